"""Order of the examples in the gallery: from first steps to model selection.

A class named by a string in ``conf.py``, so that sphinx-gallery's
configuration stays picklable and Sphinx can cache it between builds.
"""

ORDER = [
    "plot_quickstart.py",
    "plot_latent_space.py",
    "plot_sampling.py",
    "plot_interpolation.py",
    "plot_conditional_digits.py",
    "plot_grid_search.py",
    "plot_vs_pca.py",
    "plot_beta_warmup.py",
    "plot_tabular.py",
    "plot_synthetic_quality.py",
    "plot_dask_grid_search.py",
]


class GalleryOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        rank = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return rank, filename

    def __repr__(self):
        return f"{type(self).__name__}()"
