"""The official ADIFF inference path (soham97/ADIFF `wrapper.generate` -> `_generate_greedy`), re-implemented on the
weights of an `AdiffForConditionalGeneration`, as the baseline of `benchmarks/inference.py`.

What it keeps from the official code, because that is what costs time:

- one pair at a time; each audio gets its own front-end and encoder call (batch of one);
- the prefix is built once per pair, then every decoding step runs GPT-2 over the whole sequence so far (prefix plus
  the tokens generated), with no KV cache, and projects every position through the LM head;
- each step divides the last logits by the temperature, sorts them, masks at top-p and takes the argmax (the top-1
  token is never masked, so this is plain greedy decoding; the sort is overhead the official code pays);
- it stops when the stop token is produced (the official stop id is 220, a space: `tokenizer.encode(' <|endoftext|>')`
  keeps the first of `[220, 50256]`), or never when `stop_token_id` is None.

Every product runs on PyTorch's own CPU kernels (MKL), as in the official code: this project's models multiply with
oneDNN at inference (`modeling_adiff/onednn_linear.py`), which the reference switches off around each of its calls.

The log-mel front end is this project's FFT one (the official code computes the STFT as a conv1d with DFT kernels,
which is slower), so the baseline is, if anything, faster than the official code.
"""

import numpy as np
import torch
from torch.nn import functional as F

from modeling_adiff.onednn_linear import onednn_linear_enabled


class OfficialGreedyReference:
    """Explains one pair at a time the way the official wrapper does.

    Args:
        model (`AdiffForConditionalGeneration`): supplies every weight; nothing is copied.
        feature_extractor (`AdiffFeatureExtractor`): turns one waveform into `(1, frames, mels)` log-mels.
        temperature (`float`, defaults to 1.0): divides the logits before the top-p mask (no effect on the argmax).
        top_p (`float`, defaults to 0.8): the official mask threshold (no effect on the argmax).
    """

    def __init__(self, model, feature_extractor, temperature: float = 1.0, top_p: float = 0.8):
        self.model = model
        self.feature_extractor = feature_extractor
        self.temperature = temperature
        self.top_p = top_p

    @torch.no_grad()
    @onednn_linear_enabled(False)
    def encode_pair(self, audio_1: np.ndarray, audio_2: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """HTSAT embeddings of one pair, `(1, 2, D)`: two separate front-end and encoder calls, as in the official
        `generate_prefix_inference`."""
        encoder = self.model.model.audio_encoder
        embeds = []
        for audio in (audio_1, audio_2):
            features = self.feature_extractor(audio, sampling_rate=sampling_rate)["input_features"]  # (1, T, M)
            features = features.to(device=encoder.device, dtype=encoder.dtype).unsqueeze(1)  # (1, 1, T, M)
            embeds.append(encoder(input_features=features).pooler_output)  # (1, D)
        return torch.stack(embeds, dim=1)  # (1, 2, D)

    @torch.no_grad()
    def prefix(self, audio_1: np.ndarray, audio_2: np.ndarray, prompt_input_ids: torch.LongTensor,
               sampling_rate: int) -> torch.Tensor:
        """The GPT-2 prefix of one pair, `(1, total_prefix_length, E)`."""
        audio_embeds = self.encode_pair(audio_1, audio_2, sampling_rate)
        with onednn_linear_enabled(False):
            return self.model.get_prefix_embeddings(audio_embeds=audio_embeds,
                                                    prompt_input_ids=prompt_input_ids.to(self.model.device))

    @torch.no_grad()
    @onednn_linear_enabled(False)
    def decode(self, prefix: torch.Tensor, max_new_tokens: int, stop_token_id: int | None) -> torch.LongTensor:
        """Cache-less greedy decoding from a `(1, L, E)` prefix; returns the new tokens, `(n,)`,
        n <= max_new_tokens."""
        language_model, lm_head = self.model.model.language_model, self.model.lm_head
        embeddings = self.model.get_input_embeddings()
        sequence = prefix  # (1, L, E), grows by one embedding per step
        tokens = []
        for _ in range(max_new_tokens):
            hidden = language_model(inputs_embeds=sequence, use_cache=False).last_hidden_state  # (1, L + t, E)
            logits = lm_head(hidden)[:, -1, :] / self.temperature  # every position projected; the last one kept
            sorted_logits, sorted_ids = torch.sort(logits, descending=True)  # (1, V)
            beyond = F.softmax(sorted_logits, dim=-1).cumsum(dim=-1) > self.top_p
            beyond[..., 1:] = beyond[..., :-1].clone()  # keep the token that crosses top_p ...
            beyond[..., 0] = False  # ... and always the top-1
            logits[:, sorted_ids[beyond]] = -float("inf")
            next_token = logits.argmax(dim=-1, keepdim=True)  # (1, 1)
            tokens.append(next_token)
            sequence = torch.cat((sequence, embeddings(next_token)), dim=1)  # (1, L + t + 1, E)
            if stop_token_id is not None and next_token.item() == stop_token_id:
                break
        return torch.cat(tokens, dim=1)[0] if tokens else torch.empty(0, dtype=torch.long)

    def explain(self, audio_1: np.ndarray, audio_2: np.ndarray, prompt_input_ids: torch.LongTensor,
                sampling_rate: int, max_new_tokens: int, stop_token_id: int | None) -> torch.LongTensor:
        """Greedy tokens for one pair: encode both audios, build the prefix, decode without a cache."""
        prefix = self.prefix(audio_1, audio_2, prompt_input_ids, sampling_rate)
        return self.decode(prefix, max_new_tokens, stop_token_id)


__all__ = ["OfficialGreedyReference"]
