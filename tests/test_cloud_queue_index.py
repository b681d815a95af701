"""The cloud scheduler's indexed queue (``cloud_waiting.WaitingJobs``) gives the same schedules as the queue it
replaced, which walked every waiting job behind the head at each event: that algorithm (``main`` at 68fd9be,
``simulate_queue`` and the policies' ``pick_ordered``) is kept here as the reference, and both run the same random
streams (priorities, unequal and zero capacities, ties in time, durations unlike the estimates, failures,
rejections) for every policy. A second test counts the jobs a backfilling pick looks at in a deep backlog."""

import bisect
import heapq
import math
import random

import pytest

from dqsim.scenarios import cloud_waiting
from dqsim.scenarios.cloud_scheduler import (POLICIES, Centre, ConnectedGroups, JobFailed, JobRecord, QueuedJob,
                                             Running, RunningEnds, make_scheduler, simulate_queue)
from dqsim.scenarios.cloud_waiting import FirstAtMost, WaitingJobs


# --------------------------------------------------------------------------
# The reference: the queue of main at 68fd9be, which walked the whole waiting list
# --------------------------------------------------------------------------

def reference_reservation(centre, head, free_qpus, now, running):
    """``BackfillScheduler.reservation`` of 7b3d2fc (before ``RunningEnds`` and ``ConnectedGroups``): the running
    jobs grouped by estimated end and sorted at each call, a selection per end once they hold enough qubits."""
    available = set(free_qpus)
    qpus = reference_select(centre, head.num_qubits, available)
    if qpus is not None:
        return now, qpus
    ends = {}
    for job in running:
        ends.setdefault(max(job.start_ps + job.job.estimate_ps, now), []).append(job)
    capacity = centre.data_qubits
    qubits = sum(capacity[q] for q in available)
    for end in sorted(ends):
        for job in ends[end]:
            available.update(job.qpus)
            qubits += sum(capacity[q] for q in job.qpus)
        if qubits < head.num_qubits:
            continue
        qpus = reference_select(centre, head.num_qubits, available)
        if qpus is not None:
            return end, qpus
    raise RuntimeError(f"job {head.name!r} fits nowhere even when every running job has ended")


def reference_select(centre, num_qubits, free):
    """``Centre.select`` of 7b3d2fc: breadth-first from each free QPU in ascending order."""
    free_set = set(free)
    tried = set()
    for start in sorted(free_set):
        if start in tried:
            continue
        chosen, total, seen, todo = [], 0, {start}, [start]
        while todo:
            qpu = todo.pop(0)
            chosen.append(qpu)
            total += centre.data_qubits[qpu]
            if total >= num_qubits:
                return tuple(sorted(chosen))
            for other in centre.neighbours[qpu]:
                if other in free_set and other not in seen:
                    seen.add(other)
                    todo.append(other)
        tried |= seen
    return None


def reference_pick(scheduler, ordered, free_qpus, now, running, walked=None):
    """``Scheduler.pick_ordered`` and ``BackfillScheduler.pick_ordered`` of 68fd9be."""
    centre = scheduler.centre
    free, starts = set(free_qpus), []
    for job in ordered:
        qpus = reference_select(centre, job.num_qubits, free)
        if qpus is None:
            break
        starts.append((job, qpus))
        free -= set(qpus)
    if scheduler.name != "backfill" or len(starts) == len(ordered):
        return starts
    head = ordered[len(starts)]
    started = [Running(job, qpus, now) for job, qpus in starts]
    shadow_ps, reserved = reference_reservation(centre, head, free, now, [*running, *started])
    outside = free - set(reserved)
    failed_outside = math.inf if outside else 1
    failed_free = math.inf if free else 1
    for job in ordered[len(starts) + 1:]:
        if failed_outside <= 1 and failed_free <= 1:
            break
        if walked is not None:
            walked.append(1)
        size, qpus = job.num_qubits, None
        if size < failed_outside:
            qpus = reference_select(centre, size, outside)
            if qpus is None:
                failed_outside = size
        if qpus is None and size < failed_free and now + job.estimate_ps <= shadow_ps:
            qpus = reference_select(centre, size, free)
            if qpus is None:
                failed_free = size
        if qpus is not None:
            starts.append((job, qpus))
            free -= set(qpus)
            outside -= set(qpus)
            failed_outside = failed_outside if outside else 1
            failed_free = failed_free if free else 1
    return starts


def reference_queue(jobs, policy, centre, duration_of, walked=None):
    """``simulate_queue`` of 68fd9be (the waiting list kept sorted by bisection, handed whole to each pick)."""
    scheduler = make_scheduler(policy, centre)
    arrivals = sorted(jobs, key=lambda job: (job.submit_ps, job.job_id))
    records, queue, keys, ordered, running, ends = {}, {}, [], [], {}, []
    free, next_arrival = set(range(centre.num_qpus)), 0
    while next_arrival < len(arrivals) or ends:
        candidates = [ends[0][0]] if ends else []
        if next_arrival < len(arrivals):
            candidates.append(arrivals[next_arrival].submit_ps)
        now = min(candidates)
        while ends and ends[0][0] == now:
            free |= set(running.pop(heapq.heappop(ends)[1]).qpus)
        while next_arrival < len(arrivals) and arrivals[next_arrival].submit_ps == now:
            job = arrivals[next_arrival]
            next_arrival += 1
            reason = job.refusal or centre.rejection(job.num_qubits)
            if reason:
                records[job.job_id] = JobRecord(job, "rejected", reason=reason)
                continue
            queue[job.job_id] = job
            key = (scheduler.order_key(job), job.job_id)
            at = bisect.bisect_left(keys, key)
            keys.insert(at, key)
            ordered.insert(at, job)
        if not queue:
            continue
        for job, qpus in reference_pick(scheduler, tuple(ordered), frozenset(free), now, tuple(running.values()),
                                      walked):
            qpus = tuple(sorted(qpus))
            del queue[job.job_id]
            at = bisect.bisect_left(keys, (scheduler.order_key(job), job.job_id))
            del keys[at], ordered[at]
            free -= set(qpus)
            try:
                duration_ps, status, reason = duration_of(job, qpus), "done", ""
            except JobFailed as exc:
                duration_ps, status, reason = 0, "failed", exc.reason
            records[job.job_id] = JobRecord(job, status, qpus, now, now + duration_ps, reason)
            running[job.job_id] = Running(job, qpus, now)
            heapq.heappush(ends, (now + duration_ps, job.job_id))
    return [records[job.job_id] for job in jobs]


# --------------------------------------------------------------------------
# Random streams
# --------------------------------------------------------------------------

def random_centre(rng):
    num = rng.randint(3, 10)
    shape = rng.choice(["line", "ring", "random", "two groups"])
    edges = [(i, i + 1) for i in range(num - 1)]
    if shape == "ring":
        edges.append((num - 1, 0))
    elif shape == "random":
        edges += [(a, b) for a in range(num) for b in range(a + 2, num) if rng.random() < 0.2]
    elif shape == "two groups":
        edges = [edge for edge in edges if edge != (num // 2 - 1, num // 2)]
    capacities = rng.choice([rng.randint(1, 3), [rng.choice([0, 1, 2, 3, 4]) for _ in range(num)]])
    return Centre.from_edges(num, edges, data_qubits=capacities)


def random_stream(rng, centre):
    total = sum(centre.data_qubits)
    jobs, now = [], 0
    for job_id in range(rng.randint(40, 160)):
        now += rng.choice([0, 0, 0, 1, rng.randint(1, 50)])  # ties, and bursts: a backlog
        jobs.append(QueuedJob(job_id, f"j{job_id}", rng.randint(1, total + 1), submit_ps=now,
                              estimate_ps=rng.choice([rng.randint(0, 100), rng.randint(0, 5) * 20]),
                              priority=rng.choice([0, 0, 0, 1, -1]),
                              refusal="refused" if rng.random() < 0.03 else ""))
    rng.shuffle(jobs)  # the order of the list is not the order of the ids
    return jobs


def durations(seed):
    """Durations unlike the estimates (shorter, longer, equal) and a few failures, fixed per job."""
    def duration_of(job, qpus):
        draw = random.Random(seed * 100_003 + job.job_id)
        if draw.random() < 0.05:
            raise JobFailed("broken")
        return draw.choice([job.estimate_ps, job.estimate_ps, draw.randint(0, 150), job.estimate_ps * 2])
    return duration_of


def as_rows(records):
    return [(r.job.job_id, r.status, r.qpus, r.start_ps, r.end_ps, r.reason) for r in records]


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_indexed_queue_gives_the_schedules_of_the_walk_over_the_whole_queue(policy):
    """60 random streams per policy: every record (status, QPUs, start, end, reason) equal."""
    rng = random.Random(2026_12_06)
    backfilled = 0
    for case in range(60):
        centre = random_centre(rng)
        jobs = random_stream(rng, centre)
        new = as_rows(simulate_queue(jobs, policy, centre, durations(case)))
        assert new == as_rows(reference_queue(jobs, policy, centre, durations(case))), (policy, case, centre)
        order = {job.job_id: job for job in jobs}
        backfilled += sum(1 for a, b in zip(new, new[1:]) if a[3] is not None and b[3] is not None and a[3] > b[3]
                          and order[a[0]].submit_ps <= order[b[0]].submit_ps)
    if policy == "backfill":
        assert backfilled > 50  # the streams do make jobs start out of arrival order


def test_backfilling_on_larger_centres_gives_the_reference_schedules():
    """Centres of 12-40 QPUs (many jobs running at once, so a reservation releases many ends into connected groups
    and most selections start past the lowest free QPU): every record equal to the reference's (its reservation and
    selections those of 7b3d2fc)."""
    rng = random.Random(2026_12_07)
    for case in range(12):
        num = rng.randint(12, 40)
        edges = [(i, (i + 1) % num) for i in range(num)] + [(a, b) for a in range(num) for b in range(a + 2, num)
                                                              if rng.random() < rng.choice([0.0, 0.03])]
        if case % 3 == 2:  # two groups
            edges = [(a, b) for a, b in edges if (a < num // 2) == (b < num // 2)]
        centre = Centre.from_edges(num, edges, data_qubits=rng.choice([2, [rng.randint(0, 3) for _ in range(num)]]))
        total = sum(centre.data_qubits)
        jobs, now = [], 0
        for job_id in range(150):
            now += rng.choice([0, 1, rng.randint(1, 30)])
            jobs.append(QueuedJob(job_id, f"j{job_id}", rng.choice([1, 2, rng.randint(1, total // 2 + 1)]),
                                  submit_ps=now, estimate_ps=rng.randint(0, 400)))
        new = as_rows(simulate_queue(jobs, "backfill", centre, durations(case)))
        assert new == as_rows(reference_queue(jobs, "backfill", centre, durations(case))), (case, centre)


def test_reservation_and_selection_match_the_reference_on_random_states():
    """``BackfillScheduler.reservation`` (running jobs by estimated end, connected groups by union-find) and
    ``Centre.select`` against 7b3d2fc's on random centres, free sets and running jobs, ends before and after now."""
    rng = random.Random(5)
    for case in range(300):
        centre = random_centre(rng) if case % 2 else Centre.from_edges(
            n := rng.randint(8, 30), [(i, (i + 1) % n) for i in range(n)], data_qubits=rng.randint(1, 3))
        qpus = list(range(centre.num_qpus))
        rng.shuffle(qpus)
        free, running, job_id = set(qpus[:rng.randint(0, len(qpus))]), [], 1
        busy = qpus[len(free):]
        while busy:
            take = rng.randint(1, len(busy))
            running.append(Running(QueuedJob(job_id, "r", 1, 0, rng.randint(0, 30)), tuple(sorted(busy[:take])),
                                   rng.randint(0, 20)))
            busy, job_id = busy[take:], job_id + 1
        for size in range(1, sum(centre.data_qubits) + 1):
            assert centre.select(size, free) == reference_select(centre, size, free)
            if centre.rejection(size) is None:
                head = QueuedJob(0, "head", size, 0, 5)
                assert (make_scheduler("backfill", centre).reservation(head, free, 10, running)
                        == reference_reservation(centre, head, free, 10, running)), (case, size)


def test_a_reservation_makes_one_selection_however_many_ends_it_releases(monkeypatch):
    """A ring of 16 QPUs, one job on each: the even QPUs' jobs end first (1, 2, ..., 8 ps), which frees enough data
    qubits for the head (8, on 4 linked QPUs) but no linked group of them. 7b3d2fc selected once per end from the
    fourth on (8 selections); the connected groups find the shadow time
    and one selection gives the reserved set."""
    centre = Centre.from_edges(16, [(i, (i + 1) % 16) for i in range(16)], data_qubits=2)
    running = [Running(QueuedJob(qpu + 1, "r", 2, 0, 1 + qpu // 2 if qpu % 2 == 0 else 100 + qpu), (qpu,), 0)
               for qpu in range(16)]
    head = QueuedJob(0, "head", 8, 0, 5)
    calls = []
    original, original_reference = Centre.select, reference_select
    monkeypatch.setattr(Centre, "select", lambda self, n, free: calls.append(n) or original(self, n, free))
    monkeypatch.setitem(globals(), "reference_select",
                        lambda centre, n, free: calls.append(n) or original_reference(centre, n, free))
    expected = reference_reservation(centre, head, set(), 0, running)
    assert expected == (103, (0, 1, 2, 3)) and len(calls) == 8
    calls.clear()
    assert make_scheduler("backfill", centre).reservation(head, set(), 0, running) == expected
    assert len(calls) == 2  # the head on the free QPUs now (none), and the reserved set


def test_a_backfilling_pick_looks_at_few_jobs_of_a_deep_backlog(monkeypatch):
    """A backlog of 1500 jobs (one a microsecond), a whole-centre job of 10 ps behind every three of one QPU and
    1 ms: the free QPUs are reserved for the head and the small jobs end after its shadow time, so none
    backfills, yet the walk behind the head looked at each waiting job at each event (O(queue) a pick). Now a
    pick looks only at the jobs its limits admit: counted through ``BackfillLimits.admits``, against the jobs the
    reference walk passes."""
    looked, walked = [], []
    original = cloud_waiting.BackfillLimits.admits
    monkeypatch.setattr(cloud_waiting.BackfillLimits, "admits",
                        lambda self, size, estimate: looked.append(1) or original(self, size, estimate))
    centre = Centre.from_edges(4, [(0, 1), (1, 2), (2, 3)], data_qubits=2)
    jobs = [QueuedJob(i, f"j{i}", 8 if i % 4 == 1 else 2, submit_ps=i * 10**6,
                      estimate_ps=10 if i % 4 == 1 else 10**9 + i) for i in range(1500)]
    records = simulate_queue(jobs, "backfill", centre, lambda job, qpus: job.estimate_ps)
    reference = reference_queue(jobs, "backfill", centre, lambda job, qpus: job.estimate_ps, walked=walked)
    assert as_rows(records) == as_rows(reference)
    assert sum(walked) > 100 * len(jobs) and len(looked) < 5 * len(jobs), (sum(walked), len(looked))


def test_first_at_most_finds_what_a_scan_finds():
    rng = random.Random(3)
    for num in (1, 2, 7, 64, 100):
        tree, values = FirstAtMost(num), [math.inf] * num
        for _ in range(300):
            position = rng.randrange(num)
            values[position] = rng.choice([math.inf, rng.randint(0, 20)])
            tree.set(position, values[position])
            start, bound = rng.randrange(num + 1), rng.randint(0, 20)
            scan = next((i for i in range(start, num) if values[i] <= bound), None)
            assert tree.first(start, bound) == scan


def test_waiting_jobs_iterate_in_the_policy_s_order():
    rng = random.Random(4)
    jobs = [QueuedJob(i, f"j{i}", rng.randint(1, 4), submit_ps=rng.randint(0, 9), estimate_ps=rng.randint(0, 9),
                      priority=rng.randint(-1, 1)) for i in range(50)]
    scheduler = make_scheduler("sjf", Centre.from_edges(2, [(0, 1)], data_qubits=2))
    waiting = WaitingJobs(jobs, scheduler.order_key)
    inside = set()
    for job in rng.sample(jobs, 40):
        waiting.add(job)
        inside.add(job.job_id)
    for job in rng.sample(jobs, 20):
        if job.job_id in inside:
            waiting.remove(job)
            inside.discard(job.job_id)
    expected = scheduler.ordered(job for job in jobs if job.job_id in inside)
    assert list(waiting) == expected and len(waiting) == len(inside)
    assert list(waiting.after(expected[3])) == expected[4:]


def test_connected_groups_and_running_ends_agree_with_a_recount():
    rng = random.Random(6)
    for _ in range(40):
        centre = random_centre(rng)
        order = list(range(centre.num_qpus))
        rng.shuffle(order)
        groups = ConnectedGroups(centre)
        for count, qpu in enumerate(order, start=1):
            groups.add([qpu])
            inside = set(order[:count])
            assert groups.largest == max(size for size in range(sum(centre.data_qubits) + 1)
                                         if size == 0 or reference_select(centre, size, inside) is not None)
    ends, kept = RunningEnds(), []
    for job_id in range(200):
        if kept and rng.random() < 0.4:
            ends.remove(kept.pop(rng.randrange(len(kept))))
        else:
            kept.append(Running(QueuedJob(job_id, "r", 1, 0, rng.randint(0, 9)), (job_id,), rng.randint(0, 9)))
            ends.add(kept[-1])
        assert list(ends) == sorted((r.start_ps + r.job.estimate_ps, r.job.job_id, r.qpus) for r in kept)


def test_a_waiting_job_and_its_index_hold_little_memory():
    """tracemalloc of 4000 queued jobs (ids 0..n-1, as a cloud run's) and their backfilling index: the jobs carry
    no per-instance dict (``__slots__``) and the index keeps its per-job integers in arrays (7b3d2fc: 239 bytes an
    index entry, now about 85)."""
    import gc
    import tracemalloc

    scheduler = make_scheduler("backfill", Centre.from_edges(4, [(0, 1), (1, 2), (2, 3)], data_qubits=2))
    rng = random.Random(8)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        jobs = [QueuedJob(i, "j", rng.randint(1, 8), rng.randint(0, 10**9), rng.randint(10**8, 10**10))
                for i in range(4000)]
        gc.collect()
        queued = tracemalloc.get_traced_memory()[0]
        waiting = scheduler.waiting(jobs)
        next(waiting.backfill_candidates(jobs[0], cloud_waiting.BackfillLimits(9, 9, 10**10)), None)
        gc.collect()
        indexed = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert not hasattr(jobs[0], "__dict__")
    assert (indexed - queued) / len(jobs) < 120, ((queued - before) / len(jobs), (indexed - queued) / len(jobs))
