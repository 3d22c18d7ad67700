"""Local worker processes: GPU pinning, and exact counts on the default storage."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpscout import SearchError
from hpscout.config import config_from_dict
from hpscout.search import assign_gpus, gpu_count, open_study, run_search, visible_gpus

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")


def test_assign_gpus_round_robin_with_a_fake_gpu_count():
    assert assign_gpus(4, 4) == ["0", "1", "2", "3"]
    assert assign_gpus(4, 2) == ["0", "1", "0", "1"]
    assert assign_gpus(2, 8) == ["0", "1"]
    assert assign_gpus(3, 0) == [None, None, None]
    assert assign_gpus(2, ["GPU-aa", "GPU-bb"]) == ["GPU-aa", "GPU-bb"]


def test_visible_gpus_reads_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"] and gpu_count() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,2")
    assert visible_gpus() == ["1"]


def make_config(tmp_path, trials):
    from _objectives import search_config_dict

    return config_from_dict(search_config_dict(tmp_path, "workers-test", trials, out="run"))


def test_lambda_objective_rejected_for_several_workers(tmp_path):
    with pytest.raises(SearchError, match="module-level function"):
        run_search(make_config(tmp_path, 4), workers=2, objective=lambda t, c: 0.0, progress=False)


@pytest.mark.slow
def test_four_local_workers_on_the_default_storage_exact_count_and_gpu_pinning(tmp_path, monkeypatch):
    from _objectives import noop

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # a fake 2-GPU machine: workers are pinned round-robin
    cfg = make_config(tmp_path, trials=40)
    summary = run_search(cfg, workers=4, objective=noop, progress=False)
    trials = open_study(cfg).get_trials(deepcopy=False)
    assert summary.n_complete == 40 and len(trials) == 40
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(40))
    assert not any("interrupted" in t.user_attrs for t in trials)  # no storage error, no retry
    assert {t.user_attrs["cuda"] for t in trials} == {"0", "1"}
    assert len({t.user_attrs["pid"] for t in trials}) >= 2  # the work really was shared
    # the cores are divided among the workers (threads_per_worker): never 4 workers x all cores
    from hpscout.search import threads_per_worker

    assert {t.user_attrs["omp_threads"] for t in trials} == {str(threads_per_worker(4))}


def test_threads_per_worker_divides_the_cores():
    from hpscout.search import threads_per_worker

    assert threads_per_worker(4, cores=16) == 4
    assert threads_per_worker(3, cores=2) == 1
    assert threads_per_worker(1, cores=16) is None  # one worker keeps torch's default
    assert threads_per_worker(8, configured=3, cores=2) == 3


@pytest.mark.slow
def test_search_threads_reaches_torch_in_every_worker(tmp_path):
    from _objectives import torch_threads

    pytest.importorskip("torch")
    from hpscout.config import apply_updates

    cfg = apply_updates(make_config(tmp_path, trials=4), {"search.threads": 1})
    run_search(cfg, workers=2, objective=torch_threads, progress=False)
    trials = open_study(cfg).get_trials(deepcopy=False)
    assert len(trials) == 4 and {t.user_attrs["torch_threads"] for t in trials} == {1}
