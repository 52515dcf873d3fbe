import sys
from pathlib import Path

import torch

# Test helpers (the transformers oracle) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
# Two cores: keep one test from starving the other process on the machine.
torch.set_num_threads(2)
