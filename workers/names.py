"""Names the API and the workers must agree on (imported by both, light)."""

TASK_NAME = "codefeedback.evaluate"
# One message for several submissions of a batch (ids in request order): the worker runs them
# one after another in one slot, skipping any that already have a result (a redelivery).
CHUNK_TASK_NAME = "codefeedback.evaluate_many"
