"""The local metric store: CloudWatch's statistics per period, periods scaled to the local
clock, memory bounded."""

import math
import random

import pytest

from local.metric_store import Clock, MetricStat, MetricStore, local_scale, statistic, Bucket

NS, NAME, DIMS = "AWS/Lambda", "Duration", {"FunctionName": "serenya-dev-auth"}


def store_at(t=3000.0, **kwargs):
    clock = Clock()
    clock.set(t)
    return MetricStore(scale=10 / 300, clock=clock, **kwargs)


def bucket(values):
    b = Bucket()
    for v in values:
        b.add(v)
    return b


def test_a_period_lasts_its_length_times_the_local_scale():
    assert local_scale(None) == pytest.approx(10 / 300)
    assert local_scale("3") == pytest.approx(0.01)
    store = store_at()
    assert store.local_seconds(300) == pytest.approx(10) and store.local_seconds(3600) == pytest.approx(120)
    assert store.resolution == pytest.approx(2)  # one CloudWatch minute
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(ValueError):
            local_scale(bad)


def test_get_metric_data_gives_one_value_per_period_with_data():
    store = store_at(3000.0)
    for t, v in ((3000.0, 1), (3001.0, 3), (3010.0, 5), (3035.0, 7)):
        store.clock.set(t)
        store.put(NS, NAME, DIMS, v, "Milliseconds")
    series = store.get_metric_data(NS, NAME, DIMS, "Sum", 300, 3000.0, 3040.0)
    # Periods of 10 s from 3000: [3000, 3010) 1+3, [3010, 3020) 5, [3030, 3040) 7; [3020, 3030) has none.
    assert series.timestamps == (3000.0, 3010.0, 3030.0) and series.values == (4, 5, 7)
    assert store.get_metric_data(NS, NAME, DIMS, "Maximum", 600, 3000.0, 3040.0).values == (5, 7)
    assert store.get_metric_data(NS, NAME, {"FunctionName": "other"}, "Sum", 300, 3000.0, 3040.0).values == ()
    assert store.get_metric_data(NS, NAME, DIMS, "SampleCount", 300, 3000.0, 3040.0).values == (2, 1, 1)


def test_dimensions_identify_a_metric_whatever_their_order():
    store = store_at()
    store.put("Serenya", "Jobs", {"service": "serenya", "stack": "dev"}, 1)
    store.put("Serenya", "Jobs", {"stack": "dev", "service": "serenya"}, 2)
    assert store.get_metric_data("Serenya", "Jobs", {"stack": "dev", "service": "serenya"}, "Sum", 60,
                                 3000.0, 3002.0).values == (3,)


def test_percentiles_are_within_one_percent_and_the_other_statistics_exact():
    rng = random.Random(7)
    values = [rng.lognormvariate(5, 1.2) for _ in range(5000)]
    b = bucket(values)
    ordered = sorted(values)
    for q in (50, 90, 99, 99.9):
        exact = ordered[max(0, math.ceil(len(values) * q / 100 - 1e-9) - 1)]
        assert statistic(f"p{q:g}")(b) == pytest.approx(exact, rel=0.0101)
    assert statistic("Sum")(b) == pytest.approx(sum(values))
    assert statistic("Average")(b) == pytest.approx(sum(values) / len(values))
    assert (statistic("Minimum")(b), statistic("Maximum")(b)) == (min(values), max(values))
    kept = ordered[:int(len(values) * 0.9)]
    assert statistic("tm90")(b) == pytest.approx(sum(kept) / len(kept), rel=0.0101)
    assert statistic("TC(10%:90%)")(b) == pytest.approx(len(values) * 0.8, abs=1)
    middle = ordered[len(values) // 4: 3 * len(values) // 4]
    assert statistic("IQM")(b) == pytest.approx(sum(middle) / len(middle), rel=0.0101)
    assert statistic("PR(:100)")(b) == pytest.approx(100 * sum(v <= 100 for v in values) / len(values), abs=1)
    assert statistic("p99")(bucket([-5, 0, 3])) == 3 and statistic("p0")(bucket([-5, 0, 3])) == -5


def test_an_unknown_statistic_or_a_sub_minute_period_is_refused():
    with pytest.raises(ValueError, match="unknown CloudWatch statistic"):
        statistic("Median")
    with pytest.raises(ValueError, match="multiple of 60"):
        MetricStat(NS, NAME, DIMS, "Sum", 30)


def test_old_buckets_are_dropped_and_memory_stays_under_its_cap():
    store = store_at(0.0, retention_s=600, max_cells=2_000)
    rng = random.Random(3)
    for i in range(3_000):  # 100 CloudWatch minutes, 300 series, values spread over many bins
        store.clock.set(i * store.resolution / 30)
        store.put(NS, NAME, {"FunctionName": f"fn-{i % 300}"}, rng.uniform(1, 1e6))
        assert store.memory()["cells"] <= 2_000
    memory = store.memory()
    assert 0 < memory["cells"] <= 2_000 and memory["bytes"] > 0
    newest = store.minute(store.clock.now())
    assert all(m >= newest - 10 for series in store._series.values() for m in series)  # 600 s = 10 minutes


def test_values_must_be_finite():
    with pytest.raises(ValueError):
        store_at().put(NS, NAME, DIMS, float("nan"))
