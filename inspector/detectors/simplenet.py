"""SimpleNet (seed 004): feature adaptor + discriminator trained against Gaussian-noise "defects".

Locally aware patch features (shared with PatchCore) are standardised per channel with the
training statistics and scaled to a channel std of `feature_std` (0.05), so that the paper's
noise width sigma = 0.015 is a fixed fraction (0.3) of the feature spread whatever the backbone;
on raw EfficientNet-Lite features (std about 7) that noise is invisible and nothing is learnt.
Then (section 3, 4.3):

- feature adaptor G: one bias-free linear layer, as wide out as in;
- anomalous features q- = G(o) + eps, eps ~ N(0, sigma^2) per entry;
- discriminator D: Linear, BatchNorm1d, LeakyReLU(0.2), Linear -> one normality logit;
- truncated L1 loss  max(0, th+ - D(q)) + max(0, -th- + D(q-)),  th+ = 0.5, th- = -0.5;
- Adam: lr 1e-4 (G), 2e-4 (D), weight decay 1e-5, batches of 4 images.

Patch anomaly score = -D(G(o)); the map is upsampled to the input, smoothed (sigma 4), and the
image score is its maximum. Weights are stored as safetensors (never pickles).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from inspector.detectors.anomaly_maps import DEFAULT_SIGMA, upsample_and_smooth
from inspector.detectors.base import MID_LEVEL_LAYERS, Detector
from inspector.detectors.patch_features import (PatchGrid, check_level_channels, iter_patch_features, level_channels,
                                                 patch_grid)
from inspector.detectors.registry import register
from inspector.features.extractor import describe_device, pick_device
from inspector.features.maps import FeatureMaps
from inspector.store.atomic import write_bytes_atomic
from inspector.types import InspectorError, Reporter, ScoreResult, as_reporter

WEIGHTS_FILE = "simplenet.safetensors"
#: Channel std the patch features are standardised to. The noise sigma of seed 004 (0.015) is
#: meaningful only relative to the feature scale: on EfficientNet-Lite features (channel std
#: about 7) it is lost in the natural spread and the discriminator never separates the two
#: (loss stuck at 1.0); at a channel std of 0.05 (sigma / std = 0.3) it trains in a few epochs.
DEFAULT_FEATURE_STD = 0.05
#: Default training length: about a minute for 200 images at 224 px on a 2-core CPU (see README).
DEFAULT_EPOCHS = 10
_SCORE_CHUNK = 16


def truncated_l1_loss(true_scores: torch.Tensor, fake_scores: torch.Tensor,
                      th_pos: float = 0.5, th_neg: float = -0.5) -> torch.Tensor:
    """Eq. 7-8 of seed 004: mean of max(0, th+ - D(q)) + max(0, -th- + D(q-)).

    Normal features are pushed above th+ and anomalous ones below th-; beyond the margins the
    loss is flat, which is what stops the discriminator from over-fitting.
    """
    return torch.clamp(th_pos - true_scores, min=0).mean() + torch.clamp(fake_scores - th_neg, min=0).mean()


def build_adaptor(dim: int) -> nn.Module:
    """Feature adaptor G: a single bias-free fully connected layer (dim -> dim)."""
    layer = nn.Linear(dim, dim, bias=False)
    nn.init.xavier_normal_(layer.weight)
    return layer


def build_discriminator(dim: int, hidden: int) -> nn.Module:
    """Discriminator D: Linear, BatchNorm1d, LeakyReLU(0.2), Linear -> (n, 1) normality logits."""
    model = nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    for module in model:
        if isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
    return model


@register
class SimpleNet(Detector):
    """Adaptor + discriminator on locally aware patch features; localises (seed 004)."""

    name = "simplenet"
    display_name = "SimpleNet"
    localizes = True
    positive_int_params = ("epochs", "batch_size")

    def __init__(self, layers: tuple[int, ...] = MID_LEVEL_LAYERS, feature_dim: Optional[int] = None,
                 epochs: int = DEFAULT_EPOCHS, batch_size: int = 4, noise_std: float = 0.015,
                 hidden_dim: Optional[int] = None, adaptor_lr: float = 1e-4, discriminator_lr: float = 2e-4,
                 weight_decay: float = 1e-5, th_pos: float = 0.5, th_neg: float = -0.5,
                 feature_std: Optional[float] = DEFAULT_FEATURE_STD, sigma: float = DEFAULT_SIGMA, seed: int = 0, device: str = "auto") -> None:
        super().__init__(layers)
        self.feature_dim = feature_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.noise_std = noise_std
        self.hidden_dim = hidden_dim
        self.adaptor_lr = adaptor_lr
        self.discriminator_lr = discriminator_lr
        self.weight_decay = weight_decay
        self.th_pos = th_pos
        self.th_neg = th_neg
        self.feature_std = feature_std
        self.sigma = sigma
        self.seed = seed
        self.device = device

    def _validate_params(self) -> None:
        if int(self.epochs) < 1:
            raise InspectorError(f"SimpleNet needs at least one epoch, got {self.epochs}.")
        if int(self.batch_size) < 1:
            raise InspectorError(f"SimpleNet batch_size must be at least 1, got {self.batch_size}.")
        if float(self.noise_std) <= 0:
            raise InspectorError(f"SimpleNet noise_std must be positive, got {self.noise_std}.")
        if self.feature_std is not None and float(self.feature_std) <= 0:
            raise InspectorError(f"SimpleNet feature_std must be positive (or None), got {self.feature_std}.")

    # -- helpers --------------------------------------------------------------------------------
    def _torch_device(self) -> torch.device:
        return pick_device(self.device)

    def _channel_stats(self, features: FeatureMaps) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std of all training patch features (streamed, float64 sums)."""
        total = 0
        first = second = None
        for _, block in iter_patch_features(features, self.layers, self.feature_dim):
            flat = block.reshape(-1, block.shape[-1]).double()
            s1, s2 = flat.sum(0), (flat * flat).sum(0)
            first = s1 if first is None else first + s1
            second = s2 if second is None else second + s2
            total += len(flat)
        mean = first / total
        var = (second / total - mean * mean).clamp(min=0.0)
        std = var.sqrt().clamp(min=1e-6)
        return mean.float().numpy(), std.float().numpy()

    def _normalised_batches(self, features: FeatureMaps, device: torch.device, chunk: int):
        mean = torch.from_numpy(self.mean_).to(device)
        std = torch.from_numpy(self.std_).to(device)
        for start, block in iter_patch_features(features, self.layers, self.feature_dim, chunk=chunk, device=device):
            yield start, (block - mean) / std

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "SimpleNet":
        self._validate_params()
        self._check_features(features)
        reporter = as_reporter(reporter)
        device = self._torch_device()
        grid = patch_grid(features, self.layers, self.feature_dim)
        if self.feature_std is not None:
            mean, std = self._channel_stats(features)
            self.mean_, self.std_ = mean, (std / float(self.feature_std)).astype(np.float32)
        else:
            self.mean_ = np.zeros(grid.dim, dtype=np.float32)
            self.std_ = np.ones(grid.dim, dtype=np.float32)
        hidden = int(self.hidden_dim) if self.hidden_dim else grid.dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            adaptor = build_adaptor(grid.dim).to(device)
            discriminator = build_discriminator(grid.dim, hidden).to(device)
        generator = torch.Generator(device=device).manual_seed(int(self.seed))
        order_generator = torch.Generator().manual_seed(int(self.seed))
        opt_adaptor = torch.optim.Adam(adaptor.parameters(), lr=float(self.adaptor_lr),
                                       weight_decay=float(self.weight_decay))
        opt_discriminator = torch.optim.Adam(discriminator.parameters(), lr=float(self.discriminator_lr),
                                             weight_decay=float(self.weight_decay))
        mean = torch.from_numpy(self.mean_).to(device)
        std = torch.from_numpy(self.std_).to(device)
        n, epochs, batch = len(features), int(self.epochs), int(self.batch_size)
        self.loss_history_ = []
        adaptor.train()
        discriminator.train()
        reporter.report("fit", 0, epochs, f"SimpleNet: training on {describe_device(device)}")
        for epoch in range(epochs):
            order = torch.randperm(n, generator=order_generator).numpy()
            losses = []
            for start in range(0, n, batch):
                reporter.check()
                subset = features.subset(np.sort(order[start:start + batch]))
                _, block = next(iter_patch_features(subset, self.layers, self.feature_dim, chunk=batch, device=device))
                normal = ((block - mean) / std).reshape(-1, grid.dim)
                adapted = adaptor(normal)
                noise = torch.randn(adapted.shape, generator=generator, device=device) * float(self.noise_std)
                logits = discriminator(torch.cat([adapted, adapted + noise])).flatten()
                loss = truncated_l1_loss(logits[:len(adapted)], logits[len(adapted):],
                                         float(self.th_pos), float(self.th_neg))
                opt_adaptor.zero_grad(set_to_none=True)
                opt_discriminator.zero_grad(set_to_none=True)
                loss.backward()
                opt_adaptor.step()
                opt_discriminator.step()
                losses.append(float(loss.detach()))
            mean_loss = float(np.mean(losses)) if losses else float("nan")
            self.loss_history_.append(mean_loss)
            reporter.report("fit", epoch + 1, epochs, f"SimpleNet epoch {epoch + 1}/{epochs}: loss {mean_loss:.4f}")
        adaptor.eval()
        discriminator.eval()
        self.adaptor_ = adaptor.cpu()
        self.discriminator_ = discriminator.cpu()
        self.grid_ = grid
        self.level_channels_ = level_channels(features, self.layers)
        self.hidden_ = hidden
        self.fitted_ = True
        return self

    # -- score ----------------------------------------------------------------------------------
    @torch.no_grad()
    def patch_scores(self, features: FeatureMaps) -> np.ndarray:
        """-D(G(o)) per patch, (n, h, w): higher = more anomalous."""
        self._check_fitted()
        self._check_features(features)
        check_level_channels(self.level_channels_, features, self.layers, "SimpleNet")
        grid = patch_grid(features, self.layers, self.feature_dim)
        device = self._torch_device()
        adaptor = self.adaptor_.to(device).eval()
        discriminator = self.discriminator_.to(device).eval()
        out = np.empty((len(features), grid.height, grid.width), dtype=np.float32)
        for start, block in self._normalised_batches(features, device, _SCORE_CHUNK):
            n = block.shape[0]
            logits = discriminator(adaptor(block.reshape(-1, grid.dim))).reshape(n, grid.height, grid.width)
            out[start:start + n] = (-logits).cpu().numpy()
        self.adaptor_.cpu()
        self.discriminator_.cpu()
        return out

    def score(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> ScoreResult:
        self._check_fitted()
        self._check_features(features)
        reporter = as_reporter(reporter)
        n = len(features)
        maps = np.empty((n, int(features.input_size[0]), int(features.input_size[1])), dtype=np.float32)
        for start in range(0, n, _SCORE_CHUNK):
            reporter.report("score", start, n, "SimpleNet: scoring")
            chunk = features.subset(slice(start, start + _SCORE_CHUNK))
            maps[start:start + len(chunk)] = upsample_and_smooth(self.patch_scores(chunk), features.input_size, float(self.sigma))
        reporter.report("score", n, n, "SimpleNet: done")
        return ScoreResult(maps.reshape(n, -1).max(axis=1), maps)

    # -- persistence ------------------------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"adaptor.{k}": v for k, v in self.adaptor_.state_dict().items()}
        tensors.update({f"discriminator.{k}": v for k, v in self.discriminator_.state_dict().items()})
        return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {
            "grid": [self.grid_.height, self.grid_.width, self.grid_.dim],
            "level_channels": list(self.level_channels_),
            "hidden": self.hidden_,
            "loss_history": [float(v) for v in self.loss_history_],
            "weights_file": WEIGHTS_FILE,
        }
        return state, {"mean": self.mean_, "std": self.std_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        height, width, dim = (int(v) for v in state["grid"])
        self.grid_ = PatchGrid(height, width, dim)
        self.level_channels_ = [int(c) for c in state["level_channels"]]
        if len(self.level_channels_) != len(self.layers):
            raise ValueError("one channel count per backbone stage is expected")
        self.hidden_ = int(state["hidden"])
        self.loss_history_ = [float(v) for v in state.get("loss_history", [])]
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float32)
        self.std_ = np.asarray(arrays["std"], dtype=np.float32)
        if self.mean_.shape != (dim,) or self.std_.shape != (dim,):
            raise ValueError(f"normalisation arrays must have shape ({dim},)")

    def _save_extra(self, folder: Path) -> None:
        from safetensors.torch import save

        write_bytes_atomic(folder / WEIGHTS_FILE, save(self._tensors(), metadata={"format": "inspector-simplenet"}))

    def _load_extra(self, folder: Path) -> None:
        from safetensors.torch import load

        path = folder / WEIGHTS_FILE
        try:
            tensors = load(path.read_bytes())
        except FileNotFoundError as exc:
            raise InspectorError(f"Missing file: {path}") from exc
        except Exception as exc:  # safetensors raises its own error types on damaged files
            raise InspectorError(f"Damaged weights file {path}: {exc}") from exc
        for name, tensor in tensors.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise InspectorError(f"{path}: '{name}' holds NaN or infinite values; the model is damaged and is refused.")
        adaptor = build_adaptor(self.grid_.dim)
        discriminator = build_discriminator(self.grid_.dim, self.hidden_)
        try:
            adaptor.load_state_dict({k[len("adaptor."):]: v for k, v in tensors.items() if k.startswith("adaptor.")})
            discriminator.load_state_dict(
                {k[len("discriminator."):]: v for k, v in tensors.items() if k.startswith("discriminator.")})
        except RuntimeError as exc:
            raise InspectorError(f"{path} does not match the model's shapes: {exc}") from exc
        self.adaptor_ = adaptor.eval()
        self.discriminator_ = discriminator.eval()

