"""Names the API and the workers must agree on (imported by both, light)."""

TASK_NAME = "codefeedback.evaluate"
