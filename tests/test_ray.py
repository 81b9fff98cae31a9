"""Ray Data batch inference (simmemre.ray_simmemre) on a local Ray cluster: its output equals predict.py's, document
for document, error records included."""

import gzip
import json

import pytest
from helpers import SCRIPTS, assert_same_predictions, load_script

ray = pytest.importorskip("ray", reason="the optional extra: pip install '.[ray]'")

THRESHOLDS = {"mention_threshold": 0.0, "coref_threshold": 0.5, "relation_threshold": 0.0}
SENTENCES = [
    "Aspirin causes ulcers.",
    "Ibuprofen induced headache and nausea.",
    "No nausea was seen after naproxen.",
    "Cisplatin nephrotoxicity was reduced by magnesium.",
]


def write_corpus(path):
    lines = [json.dumps({"id": f"d{index}", "text": " ".join(SENTENCES[: 1 + index % 4])}) for index in range(10)]
    lines.insert(3, json.dumps({"id": "no-text", "title": "x"}))
    lines.insert(
        6,
        json.dumps(
            {
                "id": "bad-offsets",
                "text": "Two words.",
                "words": [{"start": 0, "end": 30}],
                "sentences": [{"start": 0, "end": 10}],
            }
        ),
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def local_ray_cluster():
    # Logical CPUs: two actors of one CPU each, and one left for the read and write tasks.
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.integration
def test_ray_output_equals_predict_py_document_for_document(hub_folder, local_ray_cluster, tmp_path):

    from simmemre.ray_simmemre import predict_with_ray

    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    compressed = tmp_path / "corpus2.jsonl.gz"  # Ray reads gzip by its suffix, as predict.py does
    compressed.write_bytes(gzip.compress(corpus.read_bytes()))
    predict_script = load_script(SCRIPTS / "predict.py", "predict_script")
    options = [f"--{name.replace('_', '-')}={value}" for name, value in THRESHOLDS.items()]
    assert (
        predict_script.main(
            [
                "--model",
                str(hub_folder),
                str(corpus),
                str(compressed),
                "--output",
                str(tmp_path / "local.jsonl"),
                "--no-progress",
                *options,
            ]
        )
        == 0
    )
    expected = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text(encoding="utf-8").splitlines()]

    count = predict_with_ray(
        str(hub_folder), [str(corpus), str(compressed)], str(tmp_path / "ray_out"), batch_size=3, actors=2, **THRESHOLDS
    )
    parts = sorted((tmp_path / "ray_out").glob("*.jsonl"))
    got = [json.loads(line) for part in parts for line in part.read_text(encoding="utf-8").splitlines()]
    assert count == len(expected) == 24 and parts
    assert [record["id"] for record in got] == [record["id"] for record in expected]  # input order kept
    errors = {record["id"]: record["error"] for record in got if "error" in record}
    assert set(errors) == {"no-text", "bad-offsets"} and errors == {  # the second file's ids repeat the first's
        r["id"]: r["error"] for r in expected if "error" in r
    }
    assert_same_predictions(
        [r for r in got if "error" not in r], [r for r in expected if "error" not in r], tolerance=1e-6
    )
    assert sum(len(record.get("entities", ())) for record in got) > 0


@pytest.mark.integration
def test_an_actor_pool_taking_every_cpu_is_refused(hub_folder, local_ray_cluster, tmp_path):
    from simmemre.ray_simmemre import predict_with_ray

    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    with pytest.raises(ValueError, match="leave at least one for reading and writing"):
        predict_with_ray(str(hub_folder), [str(corpus)], str(tmp_path / "out"), actors=3)


@pytest.mark.integration
def test_an_empty_corpus_gives_an_empty_output_folder(hub_folder, local_ray_cluster, tmp_path):
    """No output folder at all made a pipeline of jobs fail at the next step, as if the run had not happened."""
    from simmemre.ray_simmemre import predict_with_ray

    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("", encoding="utf-8")
    assert predict_with_ray(str(hub_folder), [str(corpus)], str(tmp_path / "out")) == 0
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())
