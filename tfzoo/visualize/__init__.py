"""See what a model sees: CAM, Grad-CAM, token maps, attention rollout, feature grids and run reports.

- `cam(model, images, class_index=None, method="auto", layer=None)`: heat maps
  at input resolution in [0, 1] (`tfzoo.visualize.class_maps`).
- `attention_rollout(model, images)`: where a ViT/DeiT's class token looks.
- `feature_maps(model, image, layer)`: one layer's map ``[h, w, C]``.
- `overlay`, `save_overlay`, `save_feature_grid`: pictures (`tfzoo.visualize.plots`).
- `write_run_report(run_dir)`: ``report.png`` and ``confusion.png`` of a run
  (`tfzoo.visualize.report`).

Names load on first use, so ``import tfzoo.visualize`` is cheap.
"""

import importlib

_LAZY = {
    "cam": "tfzoo.visualize.class_maps",
    "cam_raw": "tfzoo.visualize.class_maps",
    "gradcam_raw": "tfzoo.visualize.class_maps",
    "attention_rollout": "tfzoo.visualize.rollout",
    "feature_maps": "tfzoo.visualize.features",
    "overlay": "tfzoo.visualize.plots",
    "save_overlay": "tfzoo.visualize.plots",
    "save_feature_grid": "tfzoo.visualize.plots",
    "write_run_report": "tfzoo.visualize.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfzoo.visualize' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
