"""Log-mel front end of ADIFF's HTSAT encoder: waveforms -> (clips, 1001, 64) dB features at 32 kHz."""

import math
from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank
from transformers.utils import logging

from .arguments import reject_unknown_kwargs
from .audio_io import check_sampling_rate, checked_channels_first, resample, to_float32

logger = logging.get_logger(__name__)

TRUNCATION_MODES = ("center", "start", "random")
_CALL_KWARGS = ("raw_audio", "sampling_rate", "truncation", "generator", "seed", "return_tensors")
POWER_FLOOR = 1e-10  # 10 * log10(1e-10) = -100 dB, the official amin
# Above this peak amplitude float32 power spectra can overflow (|X| <= peak * n_fft / 2): such clips are scaled to
# peak 1 before resampling and the STFT, and the scale is added back in dB. Real audio (|x| <= ~1) never gets here.
LOUD_PEAK = 1e15
RESAMPLER_MARGIN_S = 2.0  # source audio kept beyond the crop window for the resampler's edges
# Float audio is expected in [-1, 1]; a peak above this (40 dB over full scale) is almost surely a scaling mistake.
OUT_OF_RANGE_PEAK = 100.0
# Channels whose mean peaks this far (60 dB) below the loudest channel cancel each other (e.g. right = -left).
CANCELLED_RATIO = 1e-3


def _warn_about_level(channels: np.ndarray, peak: float, what: str) -> None:
    """Warns when the model would hear something other than the recording: samples far outside [-1, 1], or channels
    that cancel when averaged to mono. `channels` is `(channels, samples)`, `peak` the mono mix's peak."""
    if peak > OUT_OF_RANGE_PEAK:
        logger.warning(f"{what} has samples up to {peak:.3g}, far outside the [-1, 1] expected of float audio "
                       "(integer PCM stored as float? divide it by 32768). It is processed as given, as a very loud "
                       "sound.")
    if channels.shape[0] > 1:
        loudest = float(np.abs(channels).max())
        if loudest > 0 and peak < CANCELLED_RATIO * loudest:
            logger.warning(f"The {channels.shape[0]} channels of {what} cancel when averaged to mono (channel "
                           f"peak {loudest:.3g}, mono peak {peak:.3g}: one channel is the other inverted?); the model "
                           "hears near silence. Pass a single channel, e.g. array[0], or fix the wiring.")


class AdiffFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns waveforms into the log-mel spectrograms of the official ADIFF / HTSAT front end (torchlibrosa): periodic
    Hann STFT (`n_fft` samples, centred, reflect padding), power spectrum, Slaney mel filter bank (librosa's default),
    `10 * log10(max(x, 1e-10))` with no top-dB clip (the default; `floor_db` / `top_db` raise the floor for new
    models, see below). Every clip becomes exactly `max_length_s` seconds:

    - **Shorter clips** are tiled (repeated end to end, then cut), like the official loader; a clip of exactly
      `max_length_s` passes unchanged. Any clip of at least one sample works (a clip too short to give one sample
      at `sampling_rate` is tiled at its own rate first).
    - **Longer clips** are cropped to one window before any conversion, resampling or STFT, so memory does not grow
      with the input's length (a 10-minute recording costs what a 12-second one does). The crop is deterministic by
      default: `truncation="center"` keeps the middle, `"start"` the beginning.
      `"random"` (training only) draws the start from `generator` (a `numpy.random.Generator`) or `seed`; without
      either it is unseeded. The official code always crops at random, unseeded, which makes inference
      non-reproducible; this class does not.
    - **Multichannel** audio is averaged to mono (the official loader concatenates the channels instead, turning 10 s
      of stereo into 20 s of samples; that is a bug this class does not reproduce).
    - Integer PCM (int8, int16, int32, uint8) is scaled to [-1, 1); float64 becomes float32; other rates are resampled
      to `sampling_rate` with soxr (high quality).
    - Empty clips, NaN / Inf samples, unsupported dtypes and ambiguous shapes raise an error naming the clip; any
      finite input gives finite features (silence sits at the -100 dB floor). Each clip is transformed on its own, so
      its features never depend on the rest of the batch.

    **Floor.** With the official -100 dB floor, bands that hold only the quantisation noise of 16-bit audio (or
    dither, about -87 dB for 1 LSB) carry full weight: re-dithering a clip changes those cells by 10-30 dB. For new
    models `floor_db` (a fixed floor) and `top_db` (a floor that many dB below the clip's loudest mel cell, so it
    follows the clip's level) raise every cell below the floor to it; with both, the higher floor wins. Both are
    `None` by default (official parity: converted checkpoints and models trained without a floor need that).
    `benchmarks/front_end_dither.py` measures the effect.

    A single clip is a 1-D array, or a 2-D `(channels, samples)` / `(samples, channels)` array whose smaller axis
    (at most 16 entries) holds the channels. A batch is a list of such clips (numpy arrays or torch tensors).

    Args:
        feature_size (`int`, defaults to 64): number of mel bins.
        sampling_rate (`int`, defaults to 32000): rate the features are computed at (Hz).
        n_fft (`int`, defaults to 1024): FFT size and Hann window length.
        hop_length (`int`, defaults to 320): STFT hop in samples.
        f_min (`float`, defaults to 50.0): lowest mel filter edge (Hz).
        f_max (`float`, defaults to 14000.0): highest mel filter edge (Hz).
        max_length_s (`float`, defaults to 10.0): clip length in seconds every input is tiled or cropped to.
        truncation (`str`, defaults to `"center"`): crop policy for longer clips: `"center"`, `"start"` or `"random"`.
        floor_db (`float`, *optional*): fixed floor of the features in dB, in (-100, 0]; `None` keeps the official
            -100 dB.
        top_db (`float`, *optional*): floor at the clip's loudest mel cell minus `top_db` dB (> 0); `None` for none.
        padding_value (`float`, defaults to 0.0): unused (clips are tiled, not padded); kept for the base class.

    Example:

    ```python
    >>> import numpy as np
    >>> from processing_adiff import AdiffFeatureExtractor
    >>> extractor = AdiffFeatureExtractor()
    >>> extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000)["input_features"].shape
    torch.Size([1, 1001, 64])
    ```
    """

    model_input_names = ["input_features"]

    def __init__(self, feature_size: int = 64, sampling_rate: int = 32000, n_fft: int = 1024, hop_length: int = 320,
                 f_min: float = 50.0, f_max: float = 14000.0, max_length_s: float = 10.0, truncation: str = "center",
                 floor_db: float | None = None, top_db: float | None = None, padding_value: float = 0.0, **kwargs):
        kwargs.setdefault("return_attention_mask", False)
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        check_sampling_rate(sampling_rate, what="AdiffFeatureExtractor(sampling_rate=...)")
        if not 0 <= f_min < f_max <= sampling_rate / 2:
            raise ValueError(f"Need 0 <= f_min < f_max <= sampling_rate / 2 = {sampling_rate / 2}, got f_min={f_min}, "
                             f"f_max={f_max}.")
        self._check_truncation(truncation)
        self._check_floors(floor_db, top_db)
        self.floor_db = None if floor_db is None else float(floor_db)
        self.top_db = None if top_db is None else float(top_db)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.f_min = f_min
        self.f_max = f_max
        self.max_length_s = max_length_s
        self.truncation = truncation
        # (n_fft // 2 + 1, feature_size); librosa's default Slaney scale and Slaney area normalisation
        self.mel_filters = torch.from_numpy(mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1, num_mel_filters=feature_size, min_frequency=f_min, max_frequency=f_max,
            sampling_rate=sampling_rate, norm="slaney", mel_scale="slaney")).float()

    @property
    def num_samples(self) -> int:
        """Samples per clip after tiling or cropping (320000 by default)."""
        return int(round(self.max_length_s * self.sampling_rate))

    @property
    def num_frames(self) -> int:
        """Frames per clip (1001 by default: centred STFT)."""
        return self.num_samples // self.hop_length + 1

    @staticmethod
    def _check_truncation(truncation: str) -> None:
        if truncation not in TRUNCATION_MODES:
            raise ValueError(f"truncation must be one of {TRUNCATION_MODES}, got {truncation!r}. Use 'center' or "
                             "'start' for reproducible inference and 'random' only for training augmentation.")

    @staticmethod
    def _check_floors(floor_db, top_db) -> None:
        official = 10.0 * math.log10(POWER_FLOOR)
        if floor_db is not None and (isinstance(floor_db, bool) or not isinstance(floor_db, (int, float))
                                     or not official < floor_db <= 0.0):
            raise ValueError(f"floor_db must be a number in ({official:g}, 0] dB or None (the official "
                             f"{official:g} dB floor), got {floor_db!r}. E.g. floor_db=-60 ignores what lies 60 dB "
                             "below full scale.")
        if top_db is not None and (isinstance(top_db, bool) or not isinstance(top_db, (int, float))
                                   or not 0.0 < top_db < math.inf):
            raise ValueError(f"top_db must be a finite number > 0 (dB below the clip's loudest mel cell) or None, got "
                             f"{top_db!r}. E.g. top_db=80 as in librosa.power_to_db.")

    @staticmethod
    def _crop_start(length: int, window: int, truncation: str, generator: np.random.Generator | None) -> int:
        """Where a `window`-sample crop of a `length`-sample clip starts under `truncation`."""
        if truncation == "center":
            return (length - window) // 2
        if truncation == "start":
            return 0
        return int((generator or np.random.default_rng()).integers(0, length - window + 1))

    def _fit_length(self, waveform: np.ndarray, truncation: str, generator: np.random.Generator | None) -> np.ndarray:
        """Tile a short clip or crop a long one to `num_samples`."""
        target = self.num_samples
        length = waveform.shape[-1]
        if length <= target:
            return np.tile(waveform, math.ceil(target / length))[:target]
        start = self._crop_start(length, target, truncation, generator)
        return waveform[start:start + target]

    def crop_window(self, length: int, rate: int, truncation: str | None = None,
                    generator: np.random.Generator | None = None) -> tuple[int, int]:
        """`(start, stop)`: the samples of a `length`-sample clip at `rate` Hz that the features are computed from
        (the whole clip when it is short; at another rate than `sampling_rate`, the crop plus a resampler margin).
        File readers use it to decode only this window."""
        truncation = truncation if truncation is not None else self.truncation
        window = self.num_samples if rate == self.sampling_rate else math.ceil(
            (self.max_length_s + RESAMPLER_MARGIN_S) * rate)
        if length <= window:
            return 0, length
        start = self._crop_start(length, window, truncation, generator)
        return start, start + window

    def _prepare(self, clip, rate, truncation: str, generator, what: str) -> tuple[np.ndarray, float]:
        """One clip -> `(waveform, gain)`: mono float32 at `sampling_rate`, exactly `num_samples` long, scaled down by
        `gain` (1.0 except for clips louder than `LOUD_PEAK`)."""
        rate = check_sampling_rate(rate, what=what)
        audio = checked_channels_first(clip, what=what)  # (channels, samples), a view of the whole (validated) input
        # Crop before converting, so that memory is bounded by the window, not by the input's length.
        start, stop = self.crop_window(audio.shape[-1], rate, truncation, generator)
        channels = to_float32(audio[:, start:stop], what=what)  # (channels, window)
        mono = channels.mean(axis=0, dtype=np.float64)  # (samples,); float64: no channel overflow
        peak = float(np.abs(mono).max())
        _warn_about_level(channels, peak, what)
        gain = peak if peak > LOUD_PEAK else 1.0
        mono = (mono / gain).astype(np.float32)
        if rate != self.sampling_rate:
            # A clip shorter than one output sample period would resample to nothing: tile it up to one period.
            period = math.ceil(rate / self.sampling_rate)
            if mono.shape[0] < period:
                mono = np.tile(mono, math.ceil(period / mono.shape[0]))
            mono = resample(mono, rate, self.sampling_rate)
        return self._fit_length(mono, truncation, generator), gain

    def _to_clips(self, raw_audio) -> list:
        """Split the input into a list of single clips."""
        if isinstance(raw_audio, (np.ndarray, torch.Tensor)):
            return [raw_audio]
        if isinstance(raw_audio, Sequence) and not isinstance(raw_audio, (str, bytes)):
            if len(raw_audio) == 0:
                raise ValueError("Got an empty list of clips; pass at least one waveform.")
            if all(isinstance(x, (int, float, np.number)) for x in raw_audio):
                return [np.asarray(raw_audio, dtype=np.float32)]  # one clip given as a list of numbers
            return list(raw_audio)
        raise TypeError(f"Expected a waveform (numpy array or torch tensor) or a list of them, got "
                        f"{type(raw_audio).__name__}. Load files with `processing_adiff.load_audio` first.")

    def prepare_waveforms(self, raw_audio, sampling_rate: int | Sequence[int] | None = None,
                          truncation: str | None = None, generator: np.random.Generator | None = None,
                          seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """
        The first half of `__call__`: every clip checked, cropped or tiled to `num_samples`, mixed to mono and
        resampled, with the same arguments and the same random crops. `batched_log_mel` turns the result into
        `__call__`'s features, on any device (e.g. the training GPU, for a whole batch at once).

        Returns:
            `(waveforms, gains)`: `(num_clips, num_samples)` float32 and `(num_clips,)` float64; the features are those
            of `waveforms * gains` (a gain is 1 except for clips louder than `LOUD_PEAK`, which are scaled down).
        """
        truncation = truncation if truncation is not None else self.truncation
        self._check_truncation(truncation)
        if truncation == "random" and generator is None and seed is not None:
            generator = np.random.default_rng(seed)
        clips = self._to_clips(raw_audio)
        rates = list(sampling_rate) if isinstance(sampling_rate, (list, tuple)) else [sampling_rate] * len(clips)
        if len(rates) != len(clips):
            raise ValueError(f"Got {len(rates)} sampling rates for {len(clips)} clips; give one rate or one per clip.")
        waveforms, gains = zip(*(self._prepare(clip, rate, truncation, generator,
                                               f"clip {index}" if len(clips) > 1 else "the audio")
                                 for index, (clip, rate) in enumerate(zip(clips, rates))))
        return torch.from_numpy(np.stack(waveforms)), torch.tensor(gains, dtype=torch.float64)  # (N, samples), (N,)

    def batched_log_mel(self, waveforms: torch.Tensor, gains: torch.Tensor | None = None) -> torch.Tensor:
        """
        The log-mel features of `prepare_waveforms`'s output, for the whole batch in one STFT, on the tensors' device.
        They equal `__call__`'s (which transforms each clip on its own, on the CPU) up to float32 rounding (about
        1e-5 dB): each clip's features still depend only on that clip.

        Args:
            waveforms (`torch.Tensor`): `(num_clips, num_samples)` float32.
            gains (`torch.Tensor`, *optional*): `(num_clips,)`, the gains `prepare_waveforms` returned; `None` for 1.

        Returns:
            `torch.Tensor` of shape `(num_clips, num_frames, feature_size)`, float32, in dB, on `waveforms.device`.
        """
        if waveforms.dim() != 2 or waveforms.shape[-1] != self.num_samples or waveforms.dtype != torch.float32:
            raise ValueError(f"batched_log_mel expects float32 waveforms of shape (clips, {self.num_samples}) from "
                             f"prepare_waveforms, got {waveforms.dtype} of shape {tuple(waveforms.shape)}.")
        if gains is not None and gains.shape != waveforms.shape[:1]:
            raise ValueError(f"batched_log_mel expects one gain per clip, shape ({waveforms.shape[0]},), got shape "
                             f"{tuple(gains.shape)}.")
        if gains is not None and gains.device.type == "cpu" and bool((gains == 1.0).all()):
            gains = None  # skip the loud clips' float64 pass where looking costs no device sync
        return self._log_mel(waveforms, gains)

    def __call__(self, raw_audio, sampling_rate: int | Sequence[int] | None = None, truncation: str | None = None,
                 generator: np.random.Generator | None = None, seed: int | None = None,
                 return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        """
        Compute log-mel features for one clip or a list of clips.

        Args:
            raw_audio: a clip or a list of clips (numpy arrays / torch tensors; see the class docstring for layouts).
            sampling_rate (`int` or list of `int`): rate of the input in Hz, required; one per clip is accepted.
            truncation (`str`, *optional*): overrides the instance's crop policy for clips longer than `max_length_s`.
            generator (`numpy.random.Generator`, *optional*): source of the random crops when `truncation="random"`.
            seed (`int`, *optional*): seeds a fresh generator when `generator` is not given.
            return_tensors (`str`, defaults to `"pt"`): `"pt"` or `"np"`.

        Returns:
            `BatchFeature` with `input_features` of shape `(num_clips, num_frames, feature_size)`, float32, in dB.
        """
        reject_unknown_kwargs("AdiffFeatureExtractor", kwargs, _CALL_KWARGS)
        waveforms, gains = self.prepare_waveforms(raw_audio, sampling_rate, truncation, generator, seed)
        # One STFT per clip: a clip's features never depend on the rest of the batch.
        features = torch.cat([self._log_mel(waveforms[index:index + 1],
                                            None if gains[index] == 1.0 else gains[index:index + 1])
                              for index in range(len(waveforms))])  # (N, frames, mels)
        if return_tensors == "np":
            features = features.numpy()
        elif return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}.")
        return BatchFeature({"input_features": features})

    def _log_mel(self, waveforms: torch.Tensor, gains: torch.Tensor | None = None) -> torch.Tensor:
        """(N, samples) float32 -> (N, frames, mels) float32 dB of `waveforms * gains` (`gains` (N,); None: all 1),
        computed on the waveforms' device."""
        device = waveforms.device
        # The STFT, power and mel sum run in float64 (where the device has it; MPS does not): in float32 the cells
        # ~120 dB under a clip's peak hold FFT rounding noise that differs between CPUs (their SIMD paths) by ~0.3 dB,
        # so the same file gave different features on different machines. In float64 they agree to ~1e-6 dB.
        dtype = torch.float32 if device.type == "mps" else torch.float64
        window = torch.hann_window(self.n_fft, periodic=True, dtype=dtype, device=device)
        spectrum = torch.stft(waveforms.to(dtype), n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.n_fft,
                              window=window, center=True, pad_mode="reflect",
                              return_complex=True)  # (N, freqs, frames)
        power = spectrum.real.square() + spectrum.imag.square()
        # (N, frames, freqs) @ (freqs, mels) -> (N, frames, mels)
        mel = power.transpose(1, 2) @ self.mel_filters.to(device, dtype)
        if gains is None:
            features = 10.0 * torch.log10(mel.clamp(min=POWER_FLOOR))
        else:
            # power scales with gain ** 2 and the floor applies to the true power; no host sync (gains may be on a GPU)
            gains = gains.to(device, dtype)[:, None, None]  # (N, 1, 1)
            features = 10.0 * torch.log10(torch.maximum(mel, POWER_FLOOR / gains**2)) + 20.0 * torch.log10(gains)
        return self._apply_floor(features.float())

    def _apply_floor(self, features: torch.Tensor) -> torch.Tensor:
        """(N, frames, mels) dB -> the same with every cell below the clip's floor (`floor_db`, `top_db`) raised to it;
        unchanged when both are None."""
        if self.floor_db is None and self.top_db is None:
            return features
        # (N, 1, 1): one floor per clip
        floor = torch.full((features.shape[0], 1, 1), -math.inf, dtype=features.dtype, device=features.device)
        if self.floor_db is not None:
            floor = floor.clamp(min=self.floor_db)
        if self.top_db is not None:
            floor = torch.maximum(floor, features.amax(dim=(1, 2), keepdim=True) - self.top_db)
        return torch.maximum(features, floor)


__all__ = ["AdiffFeatureExtractor"]
