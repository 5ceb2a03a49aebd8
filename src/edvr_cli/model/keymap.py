"""Conversion between the three EDVR key namings (BasicSR = canonical, original EDVR repo, MMagic).

Each naming is a table of prefix rules ``(canonical, foreign)``. A template may hold numbered
placeholders: ``{i}`` (any digits), ``{i:[1-4]}`` (a character class), and ``{i+1}`` (the same number
plus one, for 1-based names such as ``RB_L1_1``). Rules are tried in order; the first whose template
matches the start of a key (up to a dot) rewrites that prefix; keys that no rule matches are the same
in both namings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

V = TypeVar("V")

NAMINGS = ("basicsr", "original", "mmagic")
_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^}]+))?(\+1)?\}")


@dataclass(frozen=True)
class Rule:
    """One prefix rewrite; ``when`` (optional) restricts the canonical->foreign direction by the whole key set."""

    canonical: str
    foreign: str
    when: Callable[[frozenset[str]], bool] | None = None

    @staticmethod
    def _compile(template: str) -> re.Pattern[str]:
        out, pos = [], 0
        for m in _PLACEHOLDER.finditer(template):
            out.append(re.escape(template[pos:m.start()]))
            name, cls, plus = m.groups()
            group = name + ("_p1" if plus else "")
            out.append(f"(?P<{group}>{cls or '[0-9]+'})")
            pos = m.end()
        out.append(re.escape(template[pos:]))
        return re.compile("".join(out))

    @staticmethod
    def _fill(template: str, values: dict[str, int]) -> str:
        def sub(m: re.Match[str]) -> str:
            name, _, plus = m.groups()
            return str(values[name] + 1) if plus else str(values[name])

        return _PLACEHOLDER.sub(sub, template)

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        return self._compile(self.canonical), self._compile(self.foreign)

    def apply(self, key: str, to_canonical: bool) -> str | None:
        """The rewritten key, or None when the rule does not match."""
        dst = self.canonical if to_canonical else self.foreign
        pattern = self._patterns[1 if to_canonical else 0]
        m = pattern.match(key)
        if m is None:
            return None
        values: dict[str, int] = {}
        for group, text in m.groupdict().items():
            if group.endswith("_p1"):
                values[group[:-3]] = int(text) - 1
            else:
                values[group] = int(text)
        return self._fill(dst, values) + key[m.end():]


def _hr_predeblur(keys: frozenset[str]) -> bool:
    return "predeblur.stride_conv_hr1.weight" in keys


ORIGINAL_RULES: tuple[Rule, ...] = (
    Rule("pcd_align.offset_conv{j}.l{i}.", "pcd_align.L{i}_offset_conv{j}."),
    Rule("pcd_align.dcn_pack.l{i}.conv_offset.", "pcd_align.L{i}_dcnpack.conv_offset_mask."),
    Rule("pcd_align.dcn_pack.l{i}.", "pcd_align.L{i}_dcnpack."),
    Rule("pcd_align.feat_conv.l{i}.", "pcd_align.L{i}_fea_conv."),
    Rule("pcd_align.cas_dcnpack.conv_offset.", "pcd_align.cas_dcnpack.conv_offset_mask."),
    # the original applies tAtt_2 to the reference and tAtt_1 to every frame; BasicSR the other way round
    Rule("fusion.temporal_attn1.", "tsa_fusion.tAtt_2."),
    Rule("fusion.temporal_attn2.", "tsa_fusion.tAtt_1."),
    Rule("fusion.feat_fusion.", "tsa_fusion.fea_fusion."),
    Rule("fusion.spatial_attn_l{n}.", "tsa_fusion.sAtt_L{n}."),
    Rule("fusion.spatial_attn_add{n}.", "tsa_fusion.sAtt_add_{n}."),
    Rule("fusion.spatial_attn{n}.", "tsa_fusion.sAtt_{n}."),
    Rule("fusion.", "tsa_fusion."),  # a plain 1x1 fusion conv when there is no TSA
    Rule("reconstruction.", "recon_trunk."),
    Rule("conv_hr.", "HRconv."),
    Rule("conv_l{i}_{j}.", "fea_L{i}_conv{j}."),
    Rule("predeblur.conv_first.", "pre_deblur.conv_first_1.", when=_hr_predeblur),
    Rule("predeblur.stride_conv_hr{n}.", "pre_deblur.conv_first_{n+1}."),
    Rule("predeblur.stride_conv_l{n}.", "pre_deblur.deblur_L{n}_conv."),
    Rule("predeblur.resblock_l1.{n}.", "pre_deblur.RB_L1_{n+1}."),
    Rule("predeblur.resblock_l2_{n}.", "pre_deblur.RB_L2_{n}."),
    Rule("predeblur.resblock_l3.", "pre_deblur.RB_L3_1."),
    Rule("predeblur.", "pre_deblur."),
)

MMAGIC_RULES: tuple[Rule, ...] = (
    Rule("conv_l{i}_{j}.", "feat_l{i}_conv{j}.conv."),
    Rule("pcd_align.offset_conv{j}.l{i}.", "pcd_alignment.offset_conv{j}.l{i}.conv."),
    Rule("pcd_align.feat_conv.l{i}.", "pcd_alignment.feat_conv.l{i}.conv."),
    Rule("pcd_align.cas_offset_conv{j}.", "pcd_alignment.cas_offset_conv{j}.conv."),
    Rule("pcd_align.", "pcd_alignment."),
    Rule("fusion.feat_fusion.", "fusion.feat_fusion.conv."),
    Rule("fusion.spatial_attn{n:[1-4]}.", "fusion.spatial_attn{n}.conv."),
    Rule("fusion.spatial_attn_l{n}.", "fusion.spatial_attn_l{n}.conv."),
    Rule("fusion.spatial_attn_add1.", "fusion.spatial_attn_add1.conv."),
    Rule("upconv{n}.", "upsample{n}.upsample_conv."),
)

RULES: dict[str, tuple[Rule, ...]] = {"basicsr": (), "original": ORIGINAL_RULES, "mmagic": MMAGIC_RULES}

# key prefixes that only one naming has: how a state dict tells which naming it uses
_MARKERS: dict[str, tuple[str, ...]] = {
    "original": ("recon_trunk.", "tsa_fusion.", "pcd_align.L1_", "HRconv.", "pre_deblur.", "fea_L2_conv1."),
    "mmagic": ("pcd_alignment.", "upsample1.upsample_conv.", "feat_l2_conv1."),
    "basicsr": ("pcd_align.offset_conv1.", "pcd_align.dcn_pack.", "conv_l2_1.", "upconv1."),
}


def detect_naming(keys: Iterable[str]) -> str | None:
    """'basicsr', 'original' or 'mmagic' by the key prefixes present; None if none of them fits."""
    keys = list(keys)
    scores = {name: sum(k.startswith(markers) for k in keys) for name, markers in _MARKERS.items()}
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] else None


def convert_key(key: str, naming: str, to_canonical: bool, all_keys: frozenset[str] = frozenset()) -> str:
    """Rewrite one key between ``naming`` and the canonical naming."""
    for rule in RULES[naming]:
        if not to_canonical and rule.when is not None and not rule.when(all_keys):
            continue
        new = rule.apply(key, to_canonical)
        if new is not None:
            return new
    return key


def to_canonical_keys(state: Mapping[str, V], naming: str) -> dict[str, V]:
    """The same tensors under canonical (BasicSR) names."""
    return {convert_key(k, naming, True): v for k, v in state.items()}


def from_canonical_keys(state: Mapping[str, V], naming: str) -> dict[str, V]:
    """The same tensors under ``naming``'s names (MMagic's ``generator.`` prefix not included)."""
    keys = frozenset(state)
    return {convert_key(k, naming, False, keys): v for k, v in state.items()}
