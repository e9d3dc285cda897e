"""Language runners, the in-container agent, the sandbox backends and the evaluation pipeline."""
