"""EMF lines as CloudWatch Logs extracts them, from what Powertools really prints.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html"""

import json

import pytest
from local import emf
from local.emf import InvalidEmf, UnparsableEmf
from local.isolation import Environment


def document(**root):
    base = {"_aws": {"Timestamp": 1_700_000_000_000, "CloudWatchMetrics": [{
        "Namespace": "Serenya", "Dimensions": [["service", "function"]],
        "Metrics": [{"Name": "Jobs", "Unit": "Count"}]}]},
        "service": "serenya", "function": "process", "Jobs": 2}
    base.update(root)
    return base


def test_what_a_function_prints_is_read_from_its_own_stdout_and_still_printed(capsys):
    """EMF as Powertools really prints it, from the function's own copy of Powertools, read
    where Lambda's runtime reads it: the function's stdout, one line at a time."""
    lines = []
    environment = Environment("process", lines.append)
    try:
        observability = environment.import_module("functions.common.observability")
        observability.count("ModelFailures")
    finally:
        environment.close()
    assert capsys.readouterr().out.strip() == lines[0]  # still printed, as Lambda would log it
    (datum,) = emf.parse(lines[0])
    assert (datum.namespace, datum.name, datum.values, datum.unit) == ("Serenya", "ModelFailures", (1.0,), "Count")
    assert {"service", "stack", "function"} == set(datum.dimensions)


def test_each_dimension_set_makes_its_own_metric_and_arrays_are_values():
    doc = document(Jobs=[1, 2, 3])
    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["service", "function"], ["service"], []]
    data = emf.parse(json.dumps(doc))
    assert [dict(d.dimensions) for d in data] == [{"service": "serenya", "function": "process"},
                                                   {"service": "serenya"}, {}]
    assert all(d.values == (1.0, 2.0, 3.0) for d in data)


def test_ordinary_log_lines_are_not_metrics():
    assert emf.parse("START RequestId: 1") == []
    assert emf.parse(json.dumps({"level": "INFO", "message": "job finished"})) == []
    assert emf.parse("{not json at all") == []


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
    (lambda d: d["_aws"].update(Timestamp="now"), "Timestamp"),
    (lambda d: d.pop("function"), "dimension 'function'"),
    (lambda d: d.update(function=3), "dimension 'function'"),
    (lambda d: d.update(Jobs="2"), "must be a number"),
    (lambda d: d.update(Jobs=list(range(101))), "must be a number"),
    (lambda d: d.update(Jobs=True), "must be a number"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Jiffies"), "not a CloudWatch unit"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(StorageResolution=5), "StorageResolution"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace=""), "Namespace"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"k{i}" for i in range(31)]]), "at most 30"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Metrics=[{"Name": "Jobs"}] * 101), "more than 100"),
])
def test_a_document_breaking_the_specification_yields_no_metric(change, problem):
    doc = document()
    change(doc)
    with pytest.raises(InvalidEmf, match=problem):
        emf.parse(json.dumps(doc))


def test_a_truncated_emf_line_is_a_parsing_error():
    with pytest.raises(UnparsableEmf):
        emf.parse(json.dumps(document())[:-5])
