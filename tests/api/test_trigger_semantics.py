"""Saving a workflow (SPEC C.4): impossible condition sets are refused with both paths;
cycles with active workflows are saved with warnings; the new document keys."""

import itertools

import pytest

from automation.document import analysis, document
from automation.document.schema import ConfigError
from automation.models import Workflow

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/"

# Which occurrences can carry each condition, written out here from SPEC §4.2 / C.4
# (not read from the registry under test).
ALL = {"create", "save", "call", "delete", "callback", "hopper_expired"}
CHANGES = {"create", "save", "call"}
VARIANTS = {
    "DISPOSITION": ({"type": "DISPOSITION", "values": ["SALE"]}, {"call"}),
    "CALL_TYPE": ({"type": "CALL_TYPE", "values": ["INBOUND"]}, {"call"}),
    "TERM_REASON": ({"type": "TERM_REASON", "values": ["AGENT"]}, {"call"}),
    "REDISPOSITION": ({"type": "REDISPOSITION"}, {"call"}),
    "CALLBACK": ({"type": "CALLBACK"}, {"callback"}),
    "HOPPER_EXPIRED": ({"type": "HOPPER_EXPIRED"}, {"hopper_expired"}),
    "LEAD_ACTION create": ({"type": "LEAD_ACTION", "values": ["create"]}, {"create"}),
    "LEAD_ACTION save": ({"type": "LEAD_ACTION", "values": ["save"]}, {"save", "call"}),
    "LEAD_ACTION delete": ({"type": "LEAD_ACTION", "values": ["delete"]}, {"delete"}),
    "LEAD_STATUS": ({"type": "LEAD_STATUS", "to": ["SALE"]}, CHANGES),
    "CALL_COUNT is": ({"type": "CALL_COUNT", "operator": "equals", "value": 1}, ALL),
    "CALL_COUNT becomes": (
        {"type": "CALL_COUNT", "operator": "equals", "value": 1, "when": "becomes"},
        CHANGES,
    ),
    "LEAD_FIELDS is": (
        {"type": "LEAD_FIELDS", "field": "state", "operator": "equals", "value": "CA"},
        ALL,
    ),
    "LEAD_FIELDS becomes": (
        {
            "type": "LEAD_FIELDS",
            "field": "state",
            "operator": "equals",
            "value": "CA",
            "when": "becomes",
        },
        CHANGES,
    ),
    "SUBMITTED_BY is": ({"type": "SUBMITTED_BY", "values": ["api"]}, ALL),
    "SUBMITTED_BY becomes": (
        {"type": "SUBMITTED_BY", "values": ["api"], "when": "becomes"},
        CHANGES,
    ),
}
PAIRS = list(itertools.combinations(sorted(VARIANTS), 2))
IMPOSSIBLE = [(a, b) for a, b in PAIRS if not VARIANTS[a][1] & VARIANTS[b][1]]


def doc(name="W", events=(), actions=(), **settings):
    return {
        "name": name,
        "all_campaigns": True,
        "events": list(events),
        "action_sets": [{"actions": list(actions)}] if actions else [],
        **settings,
    }


def editable(represented):
    """A workflow as the API shows it, less what is shown but not sent back."""
    return {k: v for k, v in represented.items() if k not in ("id", "disabled_reason", "warnings")}


def status(code):
    return {"type": "STATUS", "config": {"status": code}}


def becomes_status(code):
    return {"type": "LEAD_STATUS", "to": [code]}


def test_the_table_holds_the_pairs_the_issue_names():
    assert ("CALLBACK", "DISPOSITION") in IMPOSSIBLE
    assert ("DISPOSITION", "HOPPER_EXPIRED") in IMPOSSIBLE
    assert len(IMPOSSIBLE) > 30


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_pair_is_refused_iff_no_occurrence_carries_both(statuses, a, b):
    events = [VARIANTS[a][0], VARIANTS[b][0]]
    if (a, b) in IMPOSSIBLE:
        with pytest.raises(ConfigError) as caught:
            document.validate(doc(events=events))
        errors = caught.value.errors
        assert set(errors) == {"events[0]", "events[1]"}, errors
        assert "events[1]" in errors["events[0]"] and "events[0]" in errors["events[1]"]
        assert "could never fire" in errors["events[0]"]
    else:
        document.validate(doc(events=events))


def test_the_api_answers_400_naming_both_paths(api, statuses):
    body = doc(
        events=[
            {"type": "LEAD_FIELDS", "field": "state", "operator": "equals", "value": "CA"},
            {"type": "DISPOSITION", "values": ["SALE"]},
            {"type": "CALLBACK"},
        ]
    )
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"events[1]", "events[2]"}
    assert "events[2] (Callback)" in errors["events[1]"][0]
    assert "events[1] (Disposition)" in errors["events[2]"][0]
    assert not Workflow.objects.exists()


def test_a_switched_off_condition_does_not_count(statuses):
    events = [{"type": "DISPOSITION", "values": ["SALE"]}, {"type": "CALLBACK", "active": False}]
    document.validate(doc(events=events))


def test_three_conditions_that_meet_in_pairs_but_not_all_together(statuses):
    events = [
        {"type": "LEAD_ACTION", "values": ["create", "delete"]},
        {"type": "LEAD_ACTION", "values": ["delete", "save"]},
        {"type": "LEAD_STATUS", "to": ["SALE"]},
    ]
    with pytest.raises(ConfigError) as caught:
        document.validate(doc(events=events))
    assert "events[2]" in caught.value.errors
    assert "no single occurrence" in caught.value.errors["events[2]"]


@pytest.mark.parametrize("relation", ["queue", "inbound_number"])
def test_a_call_scoped_workflow_with_a_condition_no_call_carries_is_refused(statuses, relation):
    from leads.models import InboundNumber, Queue

    queue = Queue.objects.create(name="Inbound sales")
    number = InboundNumber.objects.create(number="+13105550199", queue=queue)
    target = queue.name if relation == "queue" else number.number
    body = doc(events=[{"type": "CALLBACK"}], relation=relation, relation_objects=[target])
    body["all_campaigns"] = False
    with pytest.raises(ConfigError) as caught:
        document.validate(body)
    assert set(caught.value.errors) == {"relation", "events[0]"}
    body["events"] = [{"type": "DISPOSITION", "values": ["SALE"]}]
    document.validate(body)


# --- Cycles --------------------------------------------------------------------------


def test_a_two_step_cycle_is_saved_with_a_warning(api, statuses):
    a = api.post(URL, doc("A", [becomes_status("NEW")], [status("FOLLOW")]), format="json").json()
    assert a["warnings"] == []
    response = api.post(URL, doc("B", [becomes_status("FOLLOW")], [status("NEW")]), format="json")
    assert response.status_code == 201
    b = response.json()
    [warning] = b["warnings"]
    assert warning["code"] == "cycle"
    assert warning["workflows"] == [b["id"], a["id"]]
    assert warning["message"].startswith("Cycle: B → A → B.")
    assert "sets status NEW" in warning["message"]
    # An update of A reports it too, from A's side.
    again = api.put(f"{URL}{a['id']}/", {**editable(a), "description": "x"}, format="json").json()
    assert [w["workflows"] for w in again["warnings"]] == [[a["id"], b["id"]]]


def test_a_three_step_cycle_is_saved_with_a_warning(api, statuses):
    a = api.post(URL, doc("A", [becomes_status("NEW")], [status("FOLLOW")]), format="json")
    b = api.post(URL, doc("B", [becomes_status("FOLLOW")], [status("CALLBK")]), format="json")
    assert a.json()["warnings"] == b.json()["warnings"] == []
    c = api.post(URL, doc("C", [becomes_status("CALLBK")], [status("NEW")]), format="json").json()
    [warning] = c["warnings"]
    assert warning["workflows"] == [c["id"], a.json()["id"], b.json()["id"]]
    assert warning["message"].startswith("Cycle: C → A → B → C.")


def test_an_acyclic_chain_has_no_warning(api, statuses, declare):
    declare("done")
    api.post(URL, doc("A", [becomes_status("NEW")], [status("FOLLOW")]), format="json")
    api.post(URL, doc("B", [becomes_status("FOLLOW")], [status("CALLBK")]), format="json")
    c = api.post(
        URL,
        doc(
            "C",
            [becomes_status("CALLBK")],
            [{"type": "FIELD", "config": {"field": "custom.done", "op": "set", "value": "1"}}],
        ),
        format="json",
    ).json()
    assert c["warnings"] == []


def test_a_workflow_whose_own_non_idempotent_action_feeds_its_state_condition(api, statuses):
    count = {"type": "CALL_COUNT", "operator": "greater_than_or_equal", "value": 0}
    bump = {"type": "FIELD", "config": {"field": "called_count", "op": "add", "value": 1}}
    direct = api.post(URL, doc("Counter", [count], [bump]), format="json").json()
    [warning] = direct["warnings"]
    assert warning["workflows"] == [direct["id"]]
    assert "can re-trigger itself" in warning["message"]


def test_a_workflow_whose_own_idempotent_action_feeds_its_condition_settles(api, statuses, declare):
    """It re-triggers itself once and then the set changes nothing: no warning."""
    declare("flag")
    count = {"type": "CALL_COUNT", "operator": "greater_than_or_equal", "value": 0}
    flag = {"type": "FIELD", "config": {"field": "custom.flag", "op": "set", "value": "seen"}}
    settles = api.post(URL, doc("Flagger", [count], [flag]), format="json").json()
    assert settles["warnings"] == []


def test_a_workflow_scheduling_callbacks_on_callbacks_loops(api, statuses):
    body = doc(
        "Callbacks", [{"type": "CALLBACK"}], [{"type": "CALLBACK", "config": {"seconds": 60}}]
    )
    [warning] = api.post(URL, body, format="json").json()["warnings"]
    assert "schedules a callback" in warning["message"]


def test_only_active_workflows_close_cycles(api, statuses):
    a = api.post(
        URL, doc("A", [becomes_status("NEW")], [status("FOLLOW")], active=False), format="json"
    ).json()
    b = api.post(URL, doc("B", [becomes_status("FOLLOW")], [status("NEW")]), format="json").json()
    assert b["warnings"] == []
    assert a["warnings"] == []
    response = api.patch(f"{URL}{a['id']}/", {"active": True}, format="json")
    assert [w["workflows"] for w in response.json()["warnings"]] == [[a["id"], b["id"]]]
    # Saving an inactive one computes nothing (it closes no cycle while off).
    response = api.patch(f"{URL}{b['id']}/", {"active": False}, format="json")
    assert response.json()["warnings"] == []


def test_warnings_name_values_that_cannot_meet_as_no_cycle(statuses):
    """A sets FOLLOW when status becomes NEW; B reacts to SALE only: no edge A → B."""
    document.save(doc("A", [becomes_status("NEW")], [status("FOLLOW")]))
    b = document.save(doc("B", [becomes_status("SALE")], [status("NEW")]))
    assert analysis.cycle_warnings(b) == []


# --- The new keys ------------------------------------------------------------------


def test_reenrollment_and_when_round_trip(api, statuses):
    body = doc(
        "Once a week",
        [
            {
                "type": "LEAD_FIELDS",
                "field": "state",
                "operator": "equals",
                "value": "CA",
                "when": "becomes",
            }
        ],
        [status("FOLLOW")],
        reenrollment="once_per_days",
        reenroll_after_days=7,
    )
    created = api.post(URL, body, format="json").json()
    assert created["reenrollment"] == "once_per_days" and created["reenroll_after_days"] == 7
    assert created["events"][0]["when"] == "becomes"
    got = editable(api.get(f"{URL}{created['id']}/").json())
    assert api.put(f"{URL}{created['id']}/", got, format="json").status_code == 200
    exported = api.get(f"{URL}export/").json()["workflows"][0]
    assert (
        exported["reenrollment"] == "once_per_days" and exported["events"][0]["when"] == "becomes"
    )


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"reenrollment": "once_per_days"}, "reenroll_after_days", "is required"),
        ({"reenrollment": "once", "reenroll_after_days": 3}, "reenroll_after_days", "only with"),
        ({"reenrollment": "sometimes"}, "reenrollment", "must be one of"),
        (
            {"reenrollment": "once_per_days", "reenroll_after_days": 0},
            "reenroll_after_days",
            "at least",
        ),
    ],
)
def test_bad_reenrollment_is_a_400_at_its_path(api, statuses, fields, path, message):
    response = api.post(URL, doc(events=[VARIANTS["CALLBACK"][0]], **fields), format="json")
    assert response.status_code == 400
    assert message in response.json()[path][0]


def test_bad_when_is_a_400_at_its_path(api, statuses):
    event = {"type": "CALL_COUNT", "operator": "equals", "value": 1, "when": "became"}
    response = api.post(URL, doc(events=[event]), format="json")
    assert response.status_code == 400
    assert "must be one of is, becomes" in response.json()["events[0].when"][0]
