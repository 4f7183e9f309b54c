"""Which timm checkpoints are published for each registered name (the table `tfzoo.convert.pretrained` reads).

`TIMM_WEIGHTS` maps a registry name to timm's model name and its Hugging Face
Hub tags (``timm/<timm name>.<tag>``), timm's default tag first, as listed by
timm 1.0's pretrained configs (``timm.models._registry``; only tags whose
weights are on the Hub). `NO_TIMM_WEIGHTS` says why a registered name has
none. A family added later adds its rows here.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CONVERT_HINT", "NO_TIMM_WEIGHTS", "TIMM_WEIGHTS", "TimmWeights"]

CONVERT_HINT = ("convert it to safetensors once, where PyTorch is installed, with the source tree's "
                "scripts/pth_to_safetensors.py: python scripts/pth_to_safetensors.py IN.pth model.safetensors")


class TimmWeights(NamedTuple):
    """Where a registered name's weights are published: timm's model name and its Hub tags (default first)."""

    timm_name: str
    tags: tuple = ()


def _w(timm_name: str, *tags: str) -> TimmWeights:
    return TimmWeights(timm_name=timm_name, tags=tags)


# Registry name -> timm's published checkpoints (``timm/<timm_name>.<tag>`` on the Hub), from timm 1.0's
# pretrained configs; the first tag is timm's default for the name.
TIMM_WEIGHTS: dict[str, TimmWeights] = {
    "densenet121": _w("densenet121", "ra_in1k", "tv_in1k"),
    "densenet161": _w("densenet161", "tv_in1k"),
    "densenet169": _w("densenet169", "tv_in1k"),
    "densenet201": _w("densenet201", "tv_in1k"),
    "efficientnet_b0": _w("efficientnet_b0", "ra_in1k", "ra4_e3600_r224_in1k"),
    "efficientnet_b1": _w("efficientnet_b1", "ra4_e3600_r240_in1k", "ft_in1k"),
    "efficientnet_b2": _w("efficientnet_b2", "ra_in1k"),
    "efficientnet_b3": _w("efficientnet_b3", "ra2_in1k"),
    "efficientnet_b4": _w("efficientnet_b4", "ra2_in1k"),
    "efficientnet_b5": _w("efficientnet_b5", "sw_in12k_ft_in1k", "sw_in12k"),
    "inception_v3": _w("inception_v3", "tv_in1k", "tf_in1k", "tf_adv_in1k", "gluon_in1k"),
    "mobilenet_v1_100": _w("mobilenetv1_100", "ra4_e3600_r224_in1k"),
    "mobilenet_v2_100": _w("mobilenetv2_100", "ra_in1k"),
    "mobilenet_v2_140": _w("mobilenetv2_140", "ra_in1k"),
    "mobilenet_v3_large": _w("mobilenetv3_large_100", "ra_in1k", "ra4_e3600_r224_in1k", "miil_in21k_ft_in1k",
                             "miil_in21k"),
    "mobilenet_v3_small": _w("mobilenetv3_small_100", "lamb_in1k"),
    "mobilenet_v3_small_075": _w("mobilenetv3_small_075", "lamb_in1k"),
    "mobilenet_v3_small_050": _w("mobilenetv3_small_050", "lamb_in1k"),
    "nf_resnet50": _w("nf_resnet50", "ra2_in1k"),
    **{f"dm_nfnet_f{i}": _w(f"dm_nfnet_f{i}", "dm_in1k") for i in range(7)},
    "regnetx_002": _w("regnetx_002", "pycls_in1k"),
    "regnetx_004": _w("regnetx_004", "pycls_in1k"),
    "regnetx_006": _w("regnetx_006", "pycls_in1k"),
    "regnetx_008": _w("regnetx_008", "tv2_in1k", "pycls_in1k"),
    "regnetx_016": _w("regnetx_016", "tv2_in1k", "pycls_in1k"),
    "regnetx_032": _w("regnetx_032", "tv2_in1k", "pycls_in1k"),
    "regnetx_040": _w("regnetx_040", "pycls_in1k"),
    "regnetx_064": _w("regnetx_064", "pycls_in1k"),
    "regnetx_080": _w("regnetx_080", "tv2_in1k", "pycls_in1k"),
    "regnetx_120": _w("regnetx_120", "pycls_in1k"),
    "regnetx_160": _w("regnetx_160", "tv2_in1k", "pycls_in1k"),
    "regnetx_320": _w("regnetx_320", "tv2_in1k", "pycls_in1k"),
    "regnety_002": _w("regnety_002", "pycls_in1k"),
    "regnety_004": _w("regnety_004", "tv2_in1k", "pycls_in1k"),
    "regnety_006": _w("regnety_006", "pycls_in1k"),
    "regnety_008": _w("regnety_008", "pycls_in1k"),
    "regnety_016": _w("regnety_016", "tv2_in1k", "pycls_in1k"),
    "regnety_032": _w("regnety_032", "ra_in1k", "tv2_in1k", "pycls_in1k"),
    "regnety_040": _w("regnety_040", "ra3_in1k", "pycls_in1k"),
    "regnety_064": _w("regnety_064", "ra3_in1k", "pycls_in1k"),
    "regnety_080": _w("regnety_080", "ra3_in1k", "pycls_in1k"),
    "regnety_120": _w("regnety_120", "sw_in12k_ft_in1k", "sw_in12k", "pycls_in1k"),
    "regnety_160": _w("regnety_160", "sw_in12k_ft_in1k", "lion_in12k_ft_in1k", "sw_in12k", "deit_in1k",
                      "tv2_in1k", "swag_ft_in1k", "swag_lc_in1k", "pycls_in1k"),
    "regnety_320": _w("regnety_320", "tv2_in1k", "swag_ft_in1k", "swag_lc_in1k", "seer_ft_in1k", "seer",
                      "pycls_in1k"),
    **{f"repvgg_{v}": _w(f"repvgg_{v}", "rvgg_in1k")
       for v in ("a0", "a1", "a2", "b0", "b1", "b1g4", "b2", "b2g4", "b3", "b3g4")},
    "resnet18": _w("resnet18", "a1_in1k", "a2_in1k", "a3_in1k", "tv_in1k", "fb_ssl_yfcc100m_ft_in1k",
                   "fb_swsl_ig1b_ft_in1k", "gluon_in1k"),
    "resnet34": _w("resnet34", "a1_in1k", "a2_in1k", "a3_in1k", "bt_in1k", "ra4_e3600_r224_in1k", "tv_in1k",
                   "gluon_in1k"),
    "resnet50": _w("resnet50", "a1_in1k", "a1h_in1k", "a2_in1k", "a3_in1k", "b1k_in1k", "b2k_in1k", "c1_in1k",
                   "c2_in1k", "d_in1k", "ram_in1k", "am_in1k", "ra_in1k", "bt_in1k", "tv_in1k", "tv2_in1k", "bamboo",
                   "fb_ssl_yfcc100m_ft_in1k", "fb_swsl_ig1b_ft_in1k", "gluon_in1k"),
    "resnet101": _w("resnet101", "a1h_in1k", "a1_in1k", "a2_in1k", "a3_in1k", "tv_in1k", "tv2_in1k", "gluon_in1k"),
    "resnet152": _w("resnet152", "a1h_in1k", "a1_in1k", "a2_in1k", "a3_in1k", "tv_in1k", "tv2_in1k", "gluon_in1k"),
    "resnext50_32x4d": _w("resnext50_32x4d", "a1h_in1k", "a1_in1k", "a2_in1k", "a3_in1k", "ra_in1k", "tv_in1k",
                          "tv2_in1k", "fb_ssl_yfcc100m_ft_in1k", "fb_swsl_ig1b_ft_in1k", "gluon_in1k"),
    "resnext101_32x4d": _w("resnext101_32x4d", "fb_ssl_yfcc100m_ft_in1k", "fb_swsl_ig1b_ft_in1k", "gluon_in1k"),
    "resnext101_32x8d": _w("resnext101_32x8d", "tv_in1k", "tv2_in1k", "fb_wsl_ig1b_ft_in1k",
                           "fb_ssl_yfcc100m_ft_in1k", "fb_swsl_ig1b_ft_in1k"),
    "resnext101_64x4d": _w("resnext101_64x4d", "c1_in1k", "tv_in1k", "gluon_in1k"),
    "seresnext50_32x4d": _w("seresnext50_32x4d", "racm_in1k", "gluon_in1k"),
    "seresnext101_32x4d": _w("seresnext101_32x4d", "gluon_in1k"),
    **{f"vgg{d}{bn}": _w(f"vgg{d}{bn}", "tv_in1k") for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    # Vision transformers (timm vision_transformer.py, deit.py, mlp_mixer.py): names equal timm's.
    "vit_tiny_patch16_224": _w("vit_tiny_patch16_224", "augreg_in21k_ft_in1k"),
    "vit_small_patch16_224": _w("vit_small_patch16_224", "augreg_in21k_ft_in1k", "augreg_in1k"),
    "vit_base_patch16_224": _w("vit_base_patch16_224", "augreg2_in21k_ft_in1k", "augreg_in21k_ft_in1k", "orig_in21k_ft_in1k", "augreg_in1k", "sam_in1k"),
    "vit_large_patch16_224": _w("vit_large_patch16_224", "augreg_in21k_ft_in1k"),
    "vit_base_patch32_224": _w("vit_base_patch32_224", "augreg_in21k_ft_in1k", "augreg_in1k", "sam_in1k"),
    "vit_base_patch16_384": _w("vit_base_patch16_384", "augreg_in21k_ft_in1k", "orig_in21k_ft_in1k", "augreg_in1k"),
    "deit_tiny_patch16_224": _w("deit_tiny_patch16_224", "fb_in1k"),
    "deit_small_patch16_224": _w("deit_small_patch16_224", "fb_in1k"),
    "deit_base_patch16_224": _w("deit_base_patch16_224", "fb_in1k"),
    "deit_base_patch16_384": _w("deit_base_patch16_384", "fb_in1k"),
    "deit_tiny_distilled_patch16_224": _w("deit_tiny_distilled_patch16_224", "fb_in1k"),
    "deit_small_distilled_patch16_224": _w("deit_small_distilled_patch16_224", "fb_in1k"),
    "deit_base_distilled_patch16_224": _w("deit_base_distilled_patch16_224", "fb_in1k"),
    "deit_base_distilled_patch16_384": _w("deit_base_distilled_patch16_384", "fb_in1k"),
    "mixer_b16_224": _w("mixer_b16_224", "goog_in21k_ft_in1k", "miil_in21k_ft_in1k"),
    "mixer_l16_224": _w("mixer_l16_224", "goog_in21k_ft_in1k"),
}

# Registered names without Hub weights, and why (``pretrained=True`` says so; a local file still loads).
NO_TIMM_WEIGHTS: dict[str, str] = {
    "xception": "timm publishes legacy_xception.tf_in1k only as a PyTorch pickle (a GitHub release file, "
                "xception-43020ad28.pth); " + CONVERT_HINT + ", then pass pretrained=PATH",
    "efficientnet_b6": "timm has no weights for efficientnet_b6 (only tf_efficientnet_b6, another padding)",
    "efficientnet_b7": "timm has no weights for efficientnet_b7 (only tf_efficientnet_b7, another padding)",
    "mobilenet_v3_large_075": "timm has no weights for mobilenetv3_large_075",
    "nf_resnet26": "timm has no weights for nf_resnet26",
    "nf_resnet101": "timm has no weights for nf_resnet101",
    "repvgg_b1g2": "timm has no repvgg_b1g2",
    **{name: f"timm has no ImageNet-1k weights for {name}" for name in
       ("mixer_s16_224", "mixer_s32_224", "mixer_b32_224", "mixer_l32_224")},
    **{name: ("LV-ViT has no timm twin: pass pretrained=PATH, the official TokenLabeling checkpoint saved as "
              ".safetensors (see tfzoo.models.lvvit.load_official_checkpoint)") for name in
       ("lvvit_t", "lvvit_s", "lvvit_m", "lvvit_l", "lvvit_s_384", "lvvit_m_384", "lvvit_m_448", "lvvit_l_448",
        "lvvit_l_512")},
    **{f"vgg{d}_gap": f"vgg{d}_gap is tfzoo's own variant (global-average-pooling head); timm has no twin"
       for d in (11, 13, 16, 19)},
}
