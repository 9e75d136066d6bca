"""The key format: recognisable, checkable offline, stored only as a hash."""

import random

import pytest

from apikeys import selectors, tokens


def test_a_key_is_prefixed_long_enough_and_passes_its_own_checksum():
    key = tokens.key_generate()
    assert key.startswith("pyl_") and len(key) == tokens.KEY_LENGTH == 40
    assert tokens.key_is_well_formed(key)
    # 30 base62 characters of randomness: at least 160 bits.
    assert tokens.RANDOM_LENGTH * 5.954 >= 160
    assert len({tokens.key_generate() for _ in range(200)}) == 200


def test_every_single_character_typo_is_caught_offline():
    key = tokens.key_generate()
    rng = random.Random(13)
    for position in range(len(tokens.KEY_PREFIX), len(key)):
        wrong = rng.choice([c for c in tokens.BASE62 if c != key[position]])
        assert not tokens.key_is_well_formed(key[:position] + wrong + key[position + 1 :]), position


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1],  # truncated
        lambda k: k + "a",  # too long
        lambda k: "ghp_" + k[4:],  # another vendor's prefix
        lambda k: k[:10] + "-" + k[11:],  # outside the alphabet
        lambda k: k[:4] + k[5] + k[4] + k[6:],  # two characters swapped
    ],
)
def test_malformed_keys_are_refused_without_asking_the_database(mangle):
    """No ``django_db`` mark: touching the database here would raise."""
    key = tokens.key_generate()
    if mangle(key) == key:
        pytest.skip("the swap was of equal characters")
    assert selectors.api_key_authenticate(key=mangle(key)) is None


def test_the_hash_is_sha256_and_compared_whole():
    key = tokens.key_generate()
    stored = tokens.key_hash(key)
    assert len(stored) == 64 and key not in stored
    assert tokens.key_matches(key, stored)
    assert not tokens.key_matches(tokens.key_generate(), stored)
