"""CLIP byte-level BPE tokenizer (transformers' slow `CLIPTokenizer` without ftfy), in plain Python.

Text -> BasicTokenizer cleaning (drop control chars, whitespace -> ' ', spaces around CJK, NFC,
lower-case, no accent stripping, no punctuation split) -> CLIP's pre-tokenisation pattern
(`'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^\\s\\p{L}\\p{N}]+`, matched here with unicodedata
categories) -> bytes mapped to printable unicode -> BPE merges by rank, last symbol marked `</w>`
-> ids, wrapped as `<|startoftext|> ... <|endoftext|>` and padded to 77 with the pad token
(`!`, id 0, in the VQ-Diffusion ITHQ tokenizer).
"""

from __future__ import annotations

import functools
import json
import os
import unicodedata

import numpy as np

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
MAX_MERGES = 49152 - 256 - 2  # transformers reads at most this many merge lines


@functools.lru_cache()
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character table (whitespace/control bytes move to 256+)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def basic_clean(text: str) -> str:
    """BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize, joined by spaces."""
    out = []
    for ch in text:
        cp = ord(ch)
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif cp == 0 or cp == 0xFFFD or unicodedata.category(ch).startswith("C"):
            continue
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return " ".join(unicodedata.normalize("NFC", "".join(out)).lower().split())


def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    cat = unicodedata.category(ch)[0]
    return {"L": "letter", "N": "number"}.get(cat, "other")


def pre_tokenize(text: str) -> list[str]:
    """All matches of CLIP's pattern, left to right (alternatives tried in the pattern's order)."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        for special in (BOS, EOS):
            if text.startswith(special, i):
                pieces.append(special)
                i += len(special)
                break
        else:
            contraction = next((c for c in CONTRACTIONS if text[i : i + len(c)].lower() == c), None)
            kind = _kind(text[i])
            if contraction:
                j = i + len(contraction)
            elif kind == "space":
                i += 1
                continue
            elif kind == "number":
                j = i + 1
            else:
                j = i + 1
                while j < n and _kind(text[j]) == kind:
                    j += 1
            pieces.append(text[i:j])
            i = j
    return pieces


class CLIPTokenizer:
    """Reads `vocab.json` + `merges.txt` (and the pad token from `special_tokens_map.json` if present)."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], pad_token: str = EOS,
                 max_length: int = 77):
        self.encoder = dict(vocab)
        self.ranks = {pair: r for r, pair in enumerate(merges[:MAX_MERGES])}
        self.byte_encoder = bytes_to_unicode()
        for tok in (BOS, EOS, pad_token):
            if tok not in self.encoder:
                raise ValueError(f"special token {tok!r} is not in the vocabulary")
        self.bos_id, self.eos_id, self.pad_id = self.encoder[BOS], self.encoder[EOS], self.encoder[pad_token]
        # transformers registers bos/eos/pad as added tokens: they are cut out of the text before BPE.
        self.specials = tuple(dict.fromkeys((BOS, EOS, pad_token)))
        self.unk_id = self.eos_id
        self.max_length = max_length
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_directory(cls, directory: str | os.PathLike, pad_token: str | None = None, max_length: int | None = None):
        directory = os.fspath(directory)
        paths = {name: os.path.join(directory, name) for name in ("vocab.json", "merges.txt")}
        for name, path in paths.items():
            if not os.path.isfile(path):
                raise FileNotFoundError(f"tokenizer file {name} not found in {directory}")
        with open(paths["vocab.json"], encoding="utf-8") as f:
            vocab = json.load(f)
        with open(paths["merges.txt"], encoding="utf-8") as f:
            lines = f.read().strip().split("\n")[1:]  # first line is the "#version" header
        merges = [tuple(line.split()) for line in lines]
        settings = {}
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    settings.update(json.load(f))
        if pad_token is None:
            pad_token = settings.get("pad_token", EOS)
            pad_token = pad_token.get("content", EOS) if isinstance(pad_token, dict) else pad_token
        if max_length is None:
            max_length = int(min(settings.get("model_max_length", 77), 77))
        return cls(vocab, merges, pad_token=pad_token, max_length=max_length)

    def bpe(self, token: str) -> list[str]:
        """Greedy lowest-rank merging of adjacent symbols; the last symbol carries `</w>`."""
        if token in (BOS, EOS):
            return [token]
        if token in self._cache:
            return self._cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(zip(word[:-1], word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[token] = word
        return word

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for chunk, special in _split_specials(text, self.specials):
            if special:
                out.append(chunk)
                continue
            for piece in pre_tokenize(basic_clean(chunk)):
                out.extend(self.bpe("".join(self.byte_encoder[b] for b in piece.encode("utf-8"))))
        return out

    def encode(self, text: str, truncation: str = "pipeline") -> list[int]:
        """`[bos] + ids + [eos]`, padded to max_length with pad_id.

        truncation="pipeline" cuts an over-long result to max_length after adding eos (the diffusers
        VQ-Diffusion pipeline calls the tokenizer without truncation and slices, so eos is lost);
        "tokenizer" truncates the text tokens so eos survives (transformers' `truncation=True`).
        """
        ids = [self.encoder.get(tok, self.unk_id) for tok in self.tokenize(text)]
        if truncation == "tokenizer":
            ids = ids[: self.max_length - 2]
        elif truncation != "pipeline":
            raise ValueError(f"truncation must be 'pipeline' or 'tokenizer', got {truncation!r}")
        ids = ([self.bos_id] + ids + [self.eos_id])[: self.max_length]
        return ids + [self.pad_id] * (self.max_length - len(ids))

    def __call__(self, texts: str | list[str], truncation: str = "pipeline") -> np.ndarray:
        """(B, max_length) int32 input ids."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        return np.asarray([self.encode(t, truncation) for t in texts], dtype=np.int32)


def _split_specials(text: str, specials: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Splits out literal special tokens (added tokens are never BPE'd)."""
    out, i = [], 0
    while i < len(text):
        hits = [(text.find(s, i), -len(s), s) for s in specials if text.find(s, i) >= 0]
        if not hits:
            out.append((text[i:], False))
            break
        j, _, s = min(hits)
        if j > i:
            out.append((text[i:j], False))
        out.append((s, True))
        i = j + len(s)
    return out
