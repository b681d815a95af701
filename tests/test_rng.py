"""Counter-based streams (dqsim.rng): keys and draws equal NumPy's SeedSequence/Philox ones."""

import random

import numpy as np

from dqsim.rng import Stream, _philox_key, purpose_id


def test_philox_key_equals_seed_sequence_for_any_sizes():
    rng = random.Random(7)
    cases = [(0, 0, 0), (1, 0, 1), (1234, 5, purpose_id("measure")), (2**64 + 3, 7, 1), (2**300 + 5, 2**70, 2**63 - 1)]
    for _ in range(3000):  # seeds and nodes of 1 to 4 words (more words than the pool: mixed in after it)
        cases.append((rng.choice([0, 1, rng.randrange(2**32), rng.randrange(2**64), rng.randrange(2**128)]),
                      rng.choice([0, rng.randrange(1 << 20), rng.randrange(2**40)]),
                      rng.choice([0, 5, rng.randrange(2**63)])))
    for seed, node, purpose in cases:
        expected = np.random.SeedSequence([seed, node, purpose]).generate_state(2, dtype=np.uint64)
        assert _philox_key(seed, node, purpose) == [int(w) for w in expected], (seed, node, purpose)


def test_stream_draws_are_those_of_a_philox_keyed_by_the_seed_sequence():
    stream = Stream(99, node=3, purpose="small-measure")
    key = np.random.SeedSequence([99, 3, purpose_id("small-measure")]).generate_state(2, dtype=np.uint64)
    assert stream._key.dtype == np.uint64 and stream._key.tolist() == key.tolist()
    for event in (0, 1, 17):
        reference = np.random.Generator(np.random.Philox(key=key, counter=np.array([0, 0, event, 0], np.uint64)))
        expected = reference.random(3)
        assert stream.generator(event).random(3).tolist() == expected.tolist()
        assert stream.transient_generator(event).random(3).tolist() == expected.tolist()


def test_own_generator_draws_as_generator_and_is_kept_while_other_streams_draw():
    import pickle

    stream, other = Stream(3, node=1, purpose="a"), Stream(3, node=1, purpose="b")
    own = stream.own_generator(9)
    first = own.random(2)
    other.own_generator(9).random(4), other.transient_generator(1).random(3)  # other streams' objects
    assert first.tolist() + own.random(2).tolist() == stream.generator(9).random(4).tolist()
    assert stream.own_generator(10) is own and own.random(3).tolist() == stream.generator(10).random(3).tolist()
    restored = pickle.loads(pickle.dumps(stream))
    assert "_own" not in restored.__dict__ and restored.own_generator(9).random(2).tolist() == first.tolist()
