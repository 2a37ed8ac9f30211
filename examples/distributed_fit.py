"""Data-parallel fit of a VAETransformer with ``torch.distributed``.

Launch one process per GPU, or a few CPU processes, with ``torchrun``::

    torchrun --nproc_per_node=2 examples/distributed_fit.py [model.safetensors]

Each process fits the same estimator on its own shard of the digits (shards of
unequal length are fine); gradients are averaged at every step, and every
process ends with the same model. The processes talk over NCCL when there are
GPUs (process ``LOCAL_RANK`` uses ``cuda:LOCAL_RANK``) and over gloo on the
CPU. Rank 0 shows the progress bar, prints a summary and saves the model when
a path is given. Run without ``torchrun``, the script fits in one process.
See ``docs/distributed.rst`` for multi-node recipes.
"""

import os
import sys

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits

from skvae import VAETransformer


def main(output=None):
    launched = "RANK" in os.environ  # torchrun sets RANK, WORLD_SIZE, LOCAL_RANK
    if launched:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    rank = dist.get_rank() if launched else 0
    world_size = dist.get_world_size() if launched else 1

    # Each process reads only its own shard; here, a contiguous slice of the
    # digits (with 2 processes: 899 and 898 rows).
    X = load_digits().data / 16.0
    shard = np.array_split(X, world_size)[rank]

    vae = VAETransformer(
        n_components=2,
        likelihood="bernoulli",
        max_iter=50,
        early_stopping=True,  # the validation loss is agreed across processes
        random_state=0,
        verbose=int(rank == 0),  # one progress bar, not one per process
    )
    vae.fit(shard)

    if launched:
        # Every process holds the same weights: their extremes over the
        # processes agree.
        flat = torch.cat([p.detach().flatten() for p in vae.module_.parameters()])
        low, high = flat.clone(), flat.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        assert torch.equal(low, high), "the processes ended with different weights"

    if rank == 0:
        print(
            f"{world_size} process(es) on {vae.device_}: {vae.n_iter_} epochs, "
            f"training loss {vae.loss_curve_[-1]:.2f}, best validation ELBO "
            f"{vae.best_validation_score_:.2f} nats per row"
        )
        if output is not None:
            vae.save(output)  # plain weights: loads anywhere with skvae.load
            print(f"saved to {output}")
    if launched:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:2])
