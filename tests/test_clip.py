"""CLIP BPE tokenizer: transformers' CLIPTokenizer semantics on a small vocabulary."""

import json

import pytest

from jaxinv.models.clip_tokenizer import CLIPTokenizer, bytes_to_unicode

MERGES = [("h", "e"), ("he", "a"), ("a", "d"), ("s", "h"), ("o", "t</w>"), ("p", "h"), ("ph", "ot</w>"),
          ("l", "l</w>"), ("e", "r</w>"), ("t", "h"), ("th", "e</w>"), ("q", "u"), ("i", "t"), ("a", "l"),
          ("h", "e</w>"), ("i", "n"), ("in", "g</w>"), ("e", "d</w>"), ("a", "l</w>")]
TEXTS = ["a high-quality headshot of a person", "A photo of tench, Tinca tinca",
         "Don't   STOP\tme!! 42 café ½ 中文 x²", "We'll see <|endoftext|> it's the", "naïve Zürich ÅNGSTRÖM " * 3,
         "word " * 100, "", "  \x00odd\u200bspacing\u3000here  "]


def write_vocab(directory, pad_token="!"):
    """256 byte symbols, their `</w>` forms, one token per merge, then bos/eos (as CLIP's vocab)."""
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [a + b for a, b in MERGES] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in MERGES) + "\n")
    (directory / "special_tokens_map.json").write_text(json.dumps({"pad_token": pad_token}))
    return vocab


def test_hand_worked(tmp_path):
    vocab = write_vocab(tmp_path)
    tok = CLIPTokenizer.from_directory(tmp_path)
    # "headshot": h e a d s h o t</w> -> he a d s h o t</w> -> hea d ... -> (he,a) rank 1 beats (a,d) rank 2;
    # then s h -> sh, o t</w> -> ot</w>.
    assert tok.tokenize("Headshot") == ["hea", "d", "sh", "ot</w>"]
    # (o, t</w>) never forms inside "photo" (its last symbol is o</w>); "it" ends in t</w>, so (i, t) does not
    # apply; "'s" is one pre-token, split by BPE into bytes.
    assert tok.tokenize("photo, it's") == ["ph", "o", "t", "o</w>", ",</w>", "i", "t</w>", "'", "s</w>"]
    assert tok.tokenize("the quality!") == ["the</w>", "qu", "al", "it", "y</w>", "!"]
    ids = tok.encode("the")
    assert ids[:3] == [vocab["<|startoftext|>"], vocab["the</w>"], vocab["<|endoftext|>"]]
    assert tok.pad_id == vocab["!"] == 0 and ids[3:] == [0] * 74 and len(ids) == 77
    long = tok.encode("a " * 100)
    assert len(long) == 77 and long[-1] == vocab["a</w>"]  # the pipeline slices: eos is lost
    assert tok.encode("a " * 100, truncation="tokenizer")[-1] == vocab["<|endoftext|>"]


def test_matches_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    write_vocab(tmp_path)
    ref = transformers.CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"), pad_token="!")
    ours = CLIPTokenizer.from_directory(tmp_path)
    for text in TEXTS:
        assert ours.tokenize(text) == ref.tokenize(text), text
        expected = ref(text, padding="max_length", max_length=77).input_ids[:77]  # as the VQ-Diffusion pipeline
        assert ours.encode(text) == expected, text
        truncated = ref(text, padding="max_length", max_length=77, truncation=True).input_ids
        assert ours.encode(text, truncation="tokenizer") == truncated, text
