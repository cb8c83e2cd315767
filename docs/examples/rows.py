"""The bundled sample's 1,024 examples as a Dataset read one row at a time, and loaders."""

import itertools

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset


class Rows(Dataset):
    def __init__(self):
        data = torch.load("sample_models/classifier_data.pt")
        self.x, self.y = data["x"], data["y"]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def train():
    """Shuffled, as a training loop reads it: read in the data set's order."""
    return DataLoader(Rows(), batch_size=128, shuffle=True)


def val():
    """In order: read anew, batch by batch, on every pass."""
    return DataLoader(Rows(), batch_size=128)


class Endless(IterableDataset):
    """The same rows over and over, without a length: a stream that never ends."""

    def __iter__(self):
        rows = Rows()
        for i in itertools.count():
            yield rows[i % len(rows)]


def endless():
    return Endless()
