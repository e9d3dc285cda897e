# Shared shell helpers for scripts/*: which Compose to use.
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose "$@"
  else
    echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
    return 1
  fi
}

wait_ready() {  # url seconds
  local url=$1 limit=$2 start=$SECONDS body=""
  while (( SECONDS - start < limit )); do
    if body=$(curl -fsS --max-time 3 "$url" 2>/dev/null); then
      return 0
    fi
    sleep 1
  done
  echo "not ready after ${limit}s: $(curl -sS --max-time 3 "$url" 2>&1 || true)" >&2
  return 1
}
