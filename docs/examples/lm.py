# lm.py
import torch
import transformers


def build():
    """A small GPT-2 from its config: random weights, nothing downloaded."""
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    return transformers.GPT2LMHeadModel(config)


def tokens():
    """32 right-padded sequences; labels as Hugging Face takes them: input_ids, -100 at padding."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 64, (32, 16), generator=gen)
    lengths = torch.randint(6, 17, (32,), generator=gen)
    mask = (torch.arange(16) < lengths[:, None]).long()
    labels = torch.where(mask == 1, ids, -100)
    return {"input_ids": ids * mask, "attention_mask": mask, "labels": labels}
