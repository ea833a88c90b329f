"""The Cloud Run traffic manager's pure logic: tags and revision names, weights, the traffic written."""

from __future__ import annotations

import pytest

from ethos.rollout.errors import UnknownRevisionError
from ethos.rollout.traffic.cloudrun import (
    Entry,
    RevisionRef,
    make_refs,
    new_traffic,
    resolve,
    tag_map,
    weights_from_traffic,
    weights_of,
)

SVC = "projects/p/locations/australia-southeast1/services/marketing-api"
# What a service looks like after `gcloud run deploy --no-traffic --tag green`: the serving
# revision has the traffic (no tag on that target), the tags sit on 0 % targets.
AFTER_DEPLOY = [Entry("marketing-api-00002-abc", 100), Entry("marketing-api-00002-abc", 0, "blue"),
                Entry("marketing-api-00003-xyz", 0, "green")]


def test_names_are_tags_of_the_same_name_unless_told_otherwise() -> None:
    assert make_refs(["blue", "green"]) == {"blue": RevisionRef("tag", "blue"), "green": RevisionRef("tag", "green")}
    refs = make_refs(["blue", "green"], tags={"green": "canary"}, revisions={"blue": "marketing-api-00002-abc"})
    assert refs == {"blue": RevisionRef("revision", "marketing-api-00002-abc"), "green": RevisionRef("tag", "canary")}
    with pytest.raises(ValueError, match="both by tag and by revision"):
        make_refs(["blue"], tags={"blue": "b"}, revisions={"blue": "r"})


def test_tags_resolve_to_the_revision_they_point_at_now() -> None:
    refs = make_refs(["blue", "green"])
    assert resolve(refs, AFTER_DEPLOY, "", SVC) == {"blue": "marketing-api-00002-abc", "green": "marketing-api-00003-xyz"}
    # the next deploy moves green (and a promotion moved blue): the same names, new revisions
    moved = [Entry("marketing-api-00003-xyz", 100), Entry("marketing-api-00003-xyz", 0, "blue"),
             Entry("marketing-api-00004-qrs", 0, "green")]
    assert resolve(refs, moved, "", SVC) == {"blue": "marketing-api-00003-xyz", "green": "marketing-api-00004-qrs"}


def test_a_tag_on_the_latest_revision_follows_it() -> None:
    entries = [Entry("", 100, "", latest=True), Entry("", 0, "green", latest=True), Entry("r1", 0, "blue")]
    assert tag_map(entries, "r2") == {"green": "r2", "blue": "r1"}
    assert weights_of(entries, {"blue": "r1", "green": "r2"}, "r2") == {"blue": 0, "green": 100}


def test_a_missing_tag_is_named_with_the_tags_there_are() -> None:
    with pytest.raises(UnknownRevisionError) as info:
        resolve(make_refs(["blue", "green"]), AFTER_DEPLOY[:2], "", SVC)
    msg = str(info.value)
    assert "tag 'green'" in msg and "blue -> marketing-api-00002-abc" in msg and SVC in msg
    assert "--update-tags green=" in msg


def test_two_names_on_one_revision_are_refused() -> None:
    both = [Entry("r1", 100), Entry("r1", 0, "blue"), Entry("r1", 0, "green")]
    with pytest.raises(UnknownRevisionError, match="same revision r1"):
        resolve(make_refs(["blue", "green"]), both, "", SVC)


def test_weights_of_sum_targets_per_revision_and_show_foreign_ones() -> None:
    names = {"blue": "r1", "green": "r2"}
    entries = [Entry("r1", 60), Entry("r2", 30), Entry("r1", 0, "blue"), Entry("r9", 10)]
    assert weights_of(entries, names) == {"blue": 60, "green": 30, "r9": 10}
    assert weights_of([Entry("r1", 50), Entry("r1", 50, "blue")], names) == {"blue": 100, "green": 0}
    assert weights_from_traffic([("r1", 100)], names) == {"blue": 100, "green": 0}


def test_new_traffic_is_what_gcloud_writes_every_tag_kept() -> None:
    # gcloud run services update-traffic --to-tags blue=100 on AFTER_DEPLOY after a promotion
    current = [Entry("marketing-api-00003-xyz", 100), Entry("marketing-api-00002-abc", 0, "blue"),
               Entry("marketing-api-00003-xyz", 0, "green"), Entry("", 0, "preview", latest=True)]
    out = new_traffic(current, {"marketing-api-00002-abc": 100})
    assert out == [Entry("marketing-api-00002-abc", 100), Entry("marketing-api-00002-abc", 0, "blue"),
                   Entry("marketing-api-00003-xyz", 0, "green"), Entry("", 0, "preview", latest=True)]
    # a split: one target per revision with traffic, by name; a tagged target with traffic is
    # split into its percent and its tag, as gcloud normalises it
    out = new_traffic([Entry("b", 100, "blue"), Entry("a", 0, "green")], {"b": 75, "a": 25})
    assert out == [Entry("a", 25), Entry("b", 75), Entry("b", 0, "blue"), Entry("a", 0, "green")]
    assert sum(e.percent for e in out) == 100
