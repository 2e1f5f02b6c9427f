"""Philox4x32-10 against the Random123 known-answer vectors, and the key layout."""

import numpy as np

from kmc.rng import Stream, draw4, philox4x32_10, probability_threshold

# Random123 kat_vectors, "philox4x32 10" lines: counter[4], key[2] -> output[4]
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def test_known_answer_vectors():
    for ctr, key, expected in KAT:
        assert tuple(int(x) for x in philox4x32_10(*ctr, *key)) == expected


def test_key_layout_matches_documented_counter():
    seed, step, pass_, site, stream = 0x1234_5678_9ABC_DEF0, 0x0000_0002_0000_0003, 5, 0x12_3456_789A, int(Stream.LI_HOP)
    expected = philox4x32_10(site & 0xFFFFFFFF, (site >> 32) | (pass_ << 8) | (stream << 16),
                             step & 0xFFFFFFFF, step >> 32, seed & 0xFFFFFFFF, seed >> 32)
    assert draw4(seed, step, pass_, site, stream) == expected


def test_every_key_component_changes_the_draw():
    base = draw4(1, 2, 3, 4, 5)
    for args in [(2, 2, 3, 4, 5), (1, 3, 3, 4, 5), (1, 2, 4, 4, 5), (1, 2, 3, 5, 5), (1, 2, 3, 4, 6)]:
        assert draw4(*args) != base


def test_draws_are_uniform():
    u = np.array([draw4(9, 0, 0, site, 1)[0] for site in range(20000)], dtype=np.float64) / 2**32
    assert abs(u.mean() - 0.5) < 0.01
    hist, _ = np.histogram(u, bins=10, range=(0, 1))
    assert hist.min() > 1800 and hist.max() < 2200


def test_probability_threshold_is_exact_integer():
    assert probability_threshold(0.0) == 0
    assert probability_threshold(1.0) == 2**32
    assert probability_threshold(0.5) == 2**31
    assert probability_threshold(-1.0) == 0 and probability_threshold(2.0) == 2**32
