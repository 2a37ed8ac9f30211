"""Test-session settings shared by the unit tests and the doctests."""

import torch

# The models under test are tiny: one intra-op thread is fastest, and it keeps
# the suite from oversubscribing the cores when pytest-xdist runs workers.
torch.set_num_threads(1)
