"""Data-generation loops over the codefeedback service and any OpenAI-compatible model.

- `repair`: generate → evaluate → revise with the service's feedback (Llama 3 §4.3.1)
- `sample`: rejection sampling with unbiased pass@k
- `translate`: translate solutions and keep those that parse, build and pass

Every loop streams its input and output JSONL, resumes from what its outputs already hold, and
rebuilds its statistics from the outputs at the end of each run.
"""

from codefeedback.loops.llm import LLM, ModelSettings
from codefeedback.loops.problems import Problem, load_problems
from codefeedback.loops.repair import RepairConfig, run_repair
from codefeedback.loops.sample import SampleConfig, run_sample
from codefeedback.loops.translate import TranslateConfig, run_translate

__all__ = ["LLM", "ModelSettings", "Problem", "RepairConfig", "SampleConfig", "TranslateConfig",
           "load_problems", "run_repair", "run_sample", "run_translate"]
