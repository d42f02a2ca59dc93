"""Per-street appearance: lighting, weather-like haze, camera response, palettes and density.

Each field of :class:`AppearanceConfig` is a ``(low, high)`` range drawn once per street
(sequence seed) from its own random stream, so the scene layout drawn from the seed does
not change when appearance ranges change. The defaults are single values equal to the
world's historical constants, so ``WorldConfig()`` renders exactly what it always did; a
broad corpus (``config/world/corpus.yaml``) widens them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import ConfigError, cfg_field

Range = tuple[float, float]


@dataclasses.dataclass
class AppearanceConfig:
    """Ranges drawn per street; ``(x, x)`` = fixed."""

    overcast: Range = cfg_field((0.0, 0.0), min=0.0, max=1.0,
                                help="0 = clear sun, 1 = fully overcast (weak sun, strong grey ambient, grey sky)")
    haze_start: Range = cfg_field((0.3, 0.3), min=0.0, max=0.95,
                                  help="fraction of max_range_m where aerial haze/fog begins")
    haze_opacity: Range = cfg_field((1.0, 1.0), min=0.0, max=1.0, help="haze opacity reached at max_range_m")
    exposure: Range = cfg_field((1.0, 1.0), gt=0.0, max=4.0, help="global exposure gain of the street's cameras")
    noise_std: Range | None = cfg_field(None, min=0.0, max=20.0,
                                        help="sensor noise std (8-bit levels); null = WorldConfig.noise_std")
    white_balance: float = cfg_field(0.0, min=0.0, max=0.3, help="std of the per-channel colour gain (tint)")
    saturation: Range = cfg_field((1.0, 1.0), min=0.0, max=2.0, help="colour saturation of the camera response")
    albedo_jitter: float = cfg_field(0.0, min=0.0, max=0.5,
                                     help="per-object multiplicative colour jitter (std, per channel)")
    road_tone: Range = cfg_field((1.0, 1.0), gt=0.0, max=3.0, help="brightness factor of the road surface")
    density: Range = cfg_field((1.0, 1.0), min=0.0, max=3.0,
                               help="factor on parked-car density, moving traffic and tree/lamp frequency")

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple) and v[0] > v[1]:
                raise ConfigError(f"range must be (low, high), got {v}", key=f.name)


@dataclasses.dataclass(frozen=True)
class Appearance:
    """The values drawn for one street (see :class:`AppearanceConfig` for their meaning)."""

    overcast: float = 0.0
    haze_start: float = 0.3
    haze_opacity: float = 1.0
    exposure: float = 1.0
    noise_std: float = 1.5
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    albedo_jitter: float = 0.0
    road_tone: float = 1.0
    density: float = 1.0

    @property
    def sun_strength(self) -> float:
        """Multiplier of direct sunlight (1 = clear)."""
        return 1.0 - 0.85 * self.overcast

    @property
    def ambient_boost(self) -> float:
        """Added to the street's ambient light under overcast skies."""
        return 0.25 * self.overcast


def _draw(rng: np.random.Generator, lohi: Range) -> float:
    lo, hi = lohi
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def draw_appearance(cfg: AppearanceConfig, seed: int, default_noise_std: float) -> Appearance:
    """The street ``seed``'s appearance, from a stream independent of the scene layout's."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA99E]))
    tint = (1.0, 1.0, 1.0)
    if cfg.white_balance > 0:
        g = np.exp(rng.normal(0.0, cfg.white_balance, 3))
        tint = tuple(float(x) for x in g / g.mean())
    return Appearance(
        overcast=_draw(rng, cfg.overcast),
        haze_start=_draw(rng, cfg.haze_start),
        haze_opacity=_draw(rng, cfg.haze_opacity),
        exposure=_draw(rng, cfg.exposure),
        noise_std=_draw(rng, cfg.noise_std) if cfg.noise_std is not None else float(default_noise_std),
        tint=tint,
        saturation=_draw(rng, cfg.saturation),
        albedo_jitter=float(cfg.albedo_jitter),
        road_tone=_draw(rng, cfg.road_tone),
        density=_draw(rng, cfg.density),
    )


def jitter_albedo(albedo, jitter: float, seed: int):
    """Per-object colour jitter of a ``(P, 3)`` float tensor (returned unchanged when ``jitter`` is 0)."""
    if jitter <= 0:
        return albedo
    import torch

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xC0105]))
    g = np.exp(rng.normal(0.0, jitter, albedo.shape)).astype(np.float32)
    return (albedo * torch.from_numpy(g)).clamp(0.0, 1.0)
