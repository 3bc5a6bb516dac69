"""Linking the register, in full or by what changed. A full link reads every current record,
trains the model, saves it (as data, with the matcher's version) and rebuilds the link index.
An incremental link (linkage.link_index) re-links only the children a delivery, a removal or
an analyst's ruling touches, with the saved model and the whole register's name counts, so
its cost follows the delivery. A changed model, setting or matcher version, or a handover
the register never took (a run that stopped between links and children), makes the next
link a full one. Either way the grouping is handed to the children step through the
database (record_clusters and the link scope), never through Dagster's storage."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from linkage.current import active_records
from linkage.histories import decisions_since
from linkage.identity import assign_ids, live_children, load_clusters, prior_ids, save_clusters, save_register
from linkage.link_index import (
    IndexWriter,
    apply_increment,
    index_parts,
    index_size,
    name_counts,
    newest_decision,
    plan_increment,
    rebuild_index,
)
from linkage.review import analyst_rulings, save_model, save_review_queue
from matching import MATCHER_VERSION, LinkSettings, key_columns, link_records, model_from_json
from register import LinkageModel, fingerprint, get_state, set_state

LINK_VERSION = "link_version"  # settings, matcher version and blocking keys the index and model were made with
LINKED_MODEL = "linked_model_id"  # the model the last full link trained
LINKED_DECISION = "linked_decision_id"  # the newest analyst decision the last link applied
LINK_SCOPE = "link_scope"  # what the children step is to take: none, full, or partial with its children
INPUTS = "links_inputs_fingerprint"  # a full link's records and rulings (nothing to do when unchanged)
# An increment that would re-link more than this share of the register is done in full.
INCREMENT_LIMIT = 0.5
INDEX_WRITER_FROM = 50_000  # records from which a full link writes its index in a second process


def link_version(settings: LinkSettings) -> str:
    return fingerprint(settings, MATCHER_VERSION, key_columns())


def link_register(engine, settings: LinkSettings, mode: str = "auto", pair_source=None) -> dict:
    """Link the register ("auto": incrementally when it can, "full": everything) and hand the
    grouping over. Returns counts for the asset's metadata (no data). pair_source: how a full
    link makes its candidate pairs (matching.partitioned; None: in one piece); an increment is
    small and always made in one piece."""
    scope = json.loads(get_state(engine, LINK_SCOPE) or '{"mode": "none"}')
    version = link_version(settings)
    why_full = ("asked" if mode == "full" else
                "the matcher, settings or blocking keys changed" if get_state(engine, LINK_VERSION) != version else
                "no saved model" if get_state(engine, LINKED_MODEL) is None else
                "a grouping the register never took" if scope["mode"] != "none" else
                "no link index" if index_size(engine) == 0 else None)
    if why_full is None:
        since = int(get_state(engine, LINKED_DECISION) or 0)
        plan = plan_increment(engine, since)
        if plan.empty:
            return {"mode": "incremental", "relinked": False}
        total = index_size(engine)
        if total and (len(plan.fresh) + plan.candidates) > INCREMENT_LIMIT * total:
            why_full = "most of the register changed"
        else:
            return _link_increment(engine, settings, plan)
    return {**_link_full(engine, settings, version, pair_source), "why_full": why_full}


def _link_full(engine, settings: LinkSettings, version: str, pair_source=None) -> dict:
    decided = newest_decision(engine)
    records = active_records(engine)
    rulings = analyst_rulings(engine)
    inputs = fingerprint(records["id"].tolist(), sorted(rulings.items()), version)
    if inputs == get_state(engine, INPUTS) and records["child_id"].ne("").all() and index_size(engine) == len(records):
        set_state(engine, LINKED_DECISION, str(decided))
        return {"mode": "full", "records": len(records), "relinked": False}
    # Until the grouping is handed over whole, a stop leaves a mark that makes the next link full.
    set_state(engine, LINK_SCOPE, json.dumps({"mode": "incomplete"}))
    writer = None

    def write_index_beside(standardised, blocking):  # the index needs only records and keys
        nonlocal writer
        if len(records) >= INDEX_WRITER_FROM:
            writer = IndexWriter(engine, index_parts(records, standardised, blocking))

    try:
        result = link_records(records, settings, rulings, pair_source=pair_source, on_blocked=write_index_beside)
    finally:
        if writer is not None:
            writer.wait()
    if writer is None:
        rebuild_index(engine, records, result.standardised, result.block_keys)
    model_id = save_model(engine, result.model.to_json()) if result.model is not None else None
    queued = save_review_queue(engine, result.review_pairs, model_id)
    save_clusters(engine, records["id"], result.clusters)
    set_state(engine, LINK_SCOPE, json.dumps({"mode": "full"}))
    set_state(engine, INPUTS, inputs)
    set_state(engine, LINK_VERSION, version)
    if model_id is not None:
        set_state(engine, LINKED_MODEL, str(model_id))
    set_state(engine, LINKED_DECISION, str(decided))
    return {**result.stats, "mode": "full", "review_queue": queued, "relinked": True,
            "linkage_model_id": model_id if model_id is not None else "none trained"}


def _link_increment(engine, settings: LinkSettings, plan) -> dict:
    decided = newest_decision(engine)
    set_state(engine, LINK_SCOPE, json.dumps({"mode": "incomplete"}))
    apply_increment(engine, plan)
    part = active_records(engine, ids=[int(i) for i in plan.fresh["id"]], children=sorted(plan.affected))
    model_id = int(get_state(engine, LINKED_MODEL))
    with engine.connect() as conn:
        parameters = conn.execute(select(LinkageModel.parameters).where(LinkageModel.id == model_id)).scalar()
    counts = name_counts(engine)
    result = link_records(part, settings, analyst_rulings(engine), model=model_from_json(parameters, counts),
                          name_counts=counts)
    changed = set(plan.fresh["record_key"]) | plan.removed_keys
    queued = save_review_queue(engine, result.review_pairs, model_id, scope=set(part["record_key"]), changed=changed)
    save_clusters(engine, part["id"], result.clusters)
    set_state(engine, LINK_SCOPE, json.dumps({"mode": "partial", "children": sorted(plan.affected)}))
    set_state(engine, LINKED_DECISION, str(decided))
    set_state(engine, INPUTS, "")  # the full link's fingerprint no longer describes the register
    return {**result.stats, "mode": "incremental", "relinked": True, "records_new_or_changed": len(plan.fresh),
            "records_unchanged_in_new_extracts": len(plan.kept), "records_gone": len(plan.removed),
            "children_relinked": len(plan.affected), "records_relinked": len(part), "review_queue": queued,
            "linkage_model_id": model_id}


# When the last relink that saved a CME list read its inputs (cme.watch sets it): the analysts'
# decisions since then are the ones a regrouping records as causes.
RELINKED_FROM = "relinked_from"


def regroup_register(engine, cause: str, on_regrouped: Callable[[set[str] | None], None] | None = None) -> dict:
    """The children step: take the grouping the link handed over (all records, or the part an
    incremental link re-linked), give each group its child id, and write every change to the
    children's history. Nothing handed over: nothing to do. `on_regrouped` is told the children
    regrouped (None: all of them) before the hand-over is cleared, so a crash between the two
    regroups them again (the children step passes the CME list's `touch`)."""
    scope = json.loads(get_state(engine, LINK_SCOPE) or '{"mode": "none"}')
    if scope["mode"] in ("none", "incomplete"):  # incomplete: the next link is a full one
        return {"children": live_children(engine), "regrouped": "none"}
    handed = load_clusters(engine)
    partial = scope["mode"] == "partial"
    prior = prior_ids(engine, keys=set(handed["record_key"]) if partial else None)
    child_ids, _ = assign_ids(handed, handed["cluster"].to_numpy(), prior)
    since = get_state(engine, RELINKED_FROM)
    counts = save_register(engine, handed, child_ids, cause,
                           decisions_since(engine, datetime.fromisoformat(since) if since else None),
                           scope_children=set(scope["children"]) if partial else None)
    if on_regrouped is not None:
        on_regrouped(set(child_ids) | set(scope["children"]) if partial else None)
    set_state(engine, LINK_SCOPE, json.dumps({"mode": "none"}))
    counts["children"] = live_children(engine)
    return {**counts, "regrouped": scope["mode"]}
