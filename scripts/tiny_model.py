"""Write a tiny random-weight llama-architecture GGUF for tests.

Usage: python tiny_model.py OUT.gguf

2 layers, 64-dim embeddings, 4 heads / 4 kv heads, ffn 128, ctx 32768 (long enough for a
stream to last seconds), F32.
Tokenizer: SentencePiece-style ("llama") with byte fallback:
  0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF> (BYTE), then printable ASCII
  (space is U+2581 '▁') as NORMAL tokens.

The output head is built so generation always runs to max_tokens with valid
UTF-8: rows of output.weight for <unk>, <s>, </s> and the 256 byte tokens are
zero (logit exactly 0), while every NORMAL token gets a large positive bias
through a constant embedding channel (logit ~ +28 +/- a few), so EOS and raw
bytes are ~e^-28 less likely than any printable token and never make top-k.
Weights come from a fixed seed, so the file is byte-for-byte deterministic.
"""
import os
import sys

import numpy as np
import gguf

SEED = 20240601
N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 128
N_CTX = 32768
HEAD_DIM = N_EMBD // N_HEAD
RMS_EPS = 1e-5
ROPE_BASE = 10000.0

# Constant channel that carries the "printable token" bias through the net.
BIAS_CHANNEL = 0
BIAS_EMBED = 8.0   # value of channel 0 in every token embedding
BIAS_OUT = 4.0     # output.weight[normal, 0]; logit bias ~ 7.2 * 4 = ~28.7
LAYER_STD = 0.02   # small block weights keep the residual stream ~ embedding


def vocab():
    tokens, scores, types = [], [], []

    def add(text, score, ttype):
        tokens.append(text)
        scores.append(float(score))
        types.append(int(ttype))

    add("<unk>", 0.0, gguf.TokenType.UNKNOWN)
    add("<s>", 0.0, gguf.TokenType.CONTROL)
    add("</s>", 0.0, gguf.TokenType.CONTROL)
    for b in range(256):
        add("<0x%02X>" % b, 0.0, gguf.TokenType.BYTE)
    n_special = len(tokens)  # 259: rows that must never be generated
    printable = ["\u2581"] + [chr(c) for c in range(0x21, 0x7F)]
    for i, ch in enumerate(printable):
        add(ch, -float(i), gguf.TokenType.NORMAL)
    return tokens, scores, types, n_special


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: tiny_model.py OUT.gguf\n")
        return 2
    out = argv[1]
    tokens, scores, types, n_special = vocab()
    n_vocab = len(tokens)
    rng = np.random.default_rng(SEED)

    def rand(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    tmp = "%s.tmp.%d" % (out, os.getpid())
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name("gantry-tiny")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_vocab_size(n_vocab)

    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.add_chat_template(
        "{% for message in messages %}"
        "{{ '<|' + message['role'] + '|>\n' + message['content'] + '\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    )

    # numpy shapes are (rows, cols) = GGUF ne reversed.
    tok_embd = rand(n_vocab, N_EMBD, std=0.5)
    tok_embd[:, BIAS_CHANNEL] = BIAS_EMBED
    w.add_tensor("token_embd.weight", tok_embd)
    for i in range(N_LAYER):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", rand(N_HEAD * HEAD_DIM, N_EMBD, std=LAYER_STD))
        w.add_tensor(p + "attn_k.weight", rand(N_HEAD_KV * HEAD_DIM, N_EMBD, std=LAYER_STD))
        w.add_tensor(p + "attn_v.weight", rand(N_HEAD_KV * HEAD_DIM, N_EMBD, std=LAYER_STD))
        w.add_tensor(p + "attn_output.weight", rand(N_EMBD, N_HEAD * HEAD_DIM, std=LAYER_STD))
        w.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", rand(N_FF, N_EMBD, std=LAYER_STD))
        w.add_tensor(p + "ffn_up.weight", rand(N_FF, N_EMBD, std=LAYER_STD))
        w.add_tensor(p + "ffn_down.weight", rand(N_EMBD, N_FF, std=LAYER_STD))
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    output = rand(n_vocab, N_EMBD, std=0.5)
    output[:, BIAS_CHANNEL] = BIAS_OUT
    output[:n_special, :] = 0.0  # <unk>, <s>, </s>, <0x00>..<0xFF>: logit 0, never picked
    w.add_tensor("output.weight", output)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
