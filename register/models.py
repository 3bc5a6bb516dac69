"""The register's tables: file ledger, source records, quarantined rows, children, candidate
pairs and CME flags. Shared by every stage; holds no logic, and never stores a raw cell of
a quarantined row (the archived file keeps the original bytes).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ExtractFile(Base):
    """The file ledger: one row per file collected from an inbox."""
    __tablename__ = "files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The provider it came from: its delivery folder (landing folder or SFTP account) is named
    # with the provider id, and a file's name must carry the same id.
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    feed: Mapped[str | None] = mapped_column(String(16))  # set once the name is read
    extract_date: Mapped[date | None] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    # collected -> accepted | rejected; duplicate for a re-sent copy of an ingested file
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[str | None] = mapped_column(Text)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_accepted: Mapped[int | None] = mapped_column(Integer)
    rows_quarantined: Mapped[int | None] = mapped_column(Integer)
    archive_path: Mapped[str] = mapped_column(String(512))
    collected_at: Mapped[datetime] = mapped_column(DateTime)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Set once the receipt is in the provider's outbox; a crash before that leaves it empty, and
    # the next collection rebuilds the receipt from this row (sources.receipts.resend_missing_receipts).
    receipt_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        # The same content from the same provider is ingested once, even by two runs at once.
        Index("uq_files_provider_sha256_live", "provider", "sha256", unique=True,
              sqlite_where=text("status IN ('collected', 'accepted')"),
              postgresql_where=text("status IN ('collected', 'accepted')")),
        Index("ix_files_status", "status"),
    )


class SourceRecord(Base):
    """One accepted row of an accepted file, standardised, with provenance."""
    __tablename__ = "source_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    row_no: Mapped[int] = mapped_column(Integer)
    feed: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    record_key: Mapped[str] = mapped_column(Text)  # the same child at the same provider
    active: Mapped[bool] = mapped_column(Boolean, default=False)  # current: see linkage.current.refresh_active
    # A school's newest extract left this child out: the row stays current as the last thing
    # that roll said (a leaver, or a child dropped with no leaving record).
    carried_forward: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Why: "left_out" (a school's newest extract does not list the child) or "quarantined" (the
    # child's row in the newest extract failed validation, so the previous row stands in).
    carried_because: Mapped[str | None] = mapped_column(String(12))
    child_id: Mapped[str | None] = mapped_column(String(16))
    upn: Mapped[str | None] = mapped_column(String(13))
    former_upn: Mapped[str | None] = mapped_column(String(13))
    nhs_number: Mapped[str | None] = mapped_column(String(10))
    la_child_id: Mapped[str | None] = mapped_column(Text)  # the contract sets no length
    surname: Mapped[str] = mapped_column(Text)  # names and addresses: "text" in the contract
    forename: Mapped[str] = mapped_column(Text)
    middle_names: Mapped[str | None] = mapped_column(Text)
    alt_surname: Mapped[str | None] = mapped_column(Text)
    dob: Mapped[date] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))  # M, F or empty
    address_line1: Mapped[str | None] = mapped_column(Text)
    address_line2: Mapped[str | None] = mapped_column(Text)
    town: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(8))  # normalised 'OUT IN'
    residence_la: Mapped[str | None] = mapped_column(String(3))
    start_date: Mapped[date | None] = mapped_column(Date)  # entry, registration or status date
    end_date: Mapped[date | None] = mapped_column(Date)  # leaving or deregistration date
    end_reason: Mapped[str | None] = mapped_column(String(16))
    enrol_status: Mapped[str | None] = mapped_column(String(1))
    record_type: Mapped[str | None] = mapped_column(String(24))
    destination_laestab: Mapped[str | None] = mapped_column(String(7))
    shielded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Contract 1.2: a school's arrangement to educate the pupil elsewhere part of the time, and
    # the weekly hours away; an authority's children-not-in-school register items (JSON).
    arrangement: Mapped[str | None] = mapped_column(String(12))
    hours_elsewhere: Mapped[float | None] = mapped_column(Float)
    register_items: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("file_id", "row_no"),
        Index("ix_source_records_active", "active"),
        Index("ix_source_records_record_key", "record_key"),
        Index("ix_source_records_postcode", "postcode"),
        Index("ix_source_records_child_id", "child_id"),
        Index("ix_source_records_nhs_number", "nhs_number"),
        Index("ix_source_records_upn", "upn"),
        Index("ix_source_records_la_child_id", "la_child_id"),
    )


class QuarantinedRow(Base):
    """A row that failed validation, with one reason per faulty column."""
    __tablename__ = "quarantined_rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    row_no: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    # The row's record key when its identifier is valid (sources.keys), so the child's previous
    # record stays current while this row waits for a correction: a bad cell loses no child.
    record_key: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_quarantined_rows_file_id", "file_id"),)


class Child(Base):
    """A register child. Ids are opaque and never reused; a child nobody mentions any more
    is retired, not deleted."""
    __tablename__ = "children"
    child_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Where a retired child's records went (most of them), so an old id still finds the child.
    now_child_id: Mapped[str | None] = mapped_column(String(16))


class LinkageModel(Base):
    """A trained linkage model as data (matching.score.Model.to_json), saved with each re-link
    that trains one; review pairs name the model that scored them."""
    __tablename__ = "linkage_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    parameters: Mapped[str] = mapped_column(Text)
    trained_at: Mapped[datetime] = mapped_column(DateTime)


class CandidatePair(Base):
    """A scored pair of records at or above the review threshold, keyed by record keys so an
    analyst's decision holds across extracts."""
    __tablename__ = "candidate_pairs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_a: Mapped[str] = mapped_column(Text)
    key_b: Mapped[str] = mapped_column(Text)
    match_weight: Mapped[float] = mapped_column(Float)
    match_probability: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16))  # link, review
    explanation: Mapped[str] = mapped_column(Text)  # JSON: field -> level, weight
    analyst_decision: Mapped[str | None] = mapped_column(String(16))  # same, different
    model_id: Mapped[int | None] = mapped_column(ForeignKey("linkage_models.id"))  # the model that scored it
    # Raised by every decision: a decision made on an older version is a conflict, not an overwrite.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Sampled for a blind second review by another analyst (review quality).
    second_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime | None] = mapped_column(DateTime)  # first queued (backlog age)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("key_a", "key_b"),)


class CmeFlag(Base):
    """A child flagged as missing education on a date, with its one reason code."""
    __tablename__ = "cme_flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[date] = mapped_column(Date)
    child_id: Mapped[str] = mapped_column(String(16))
    la_code: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(32))
    # An undecided review pair joins this child to one who is not flagged
    # (cme.rules.possible_match_in_review).
    possible_match_in_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Which source decided the authority (cme.rules.RESIDENCE_SOURCES).
    residence_source: Mapped[str | None] = mapped_column(String(24))
    # School rolls the flag rests on that were stale when it was found (sources.deliveries):
    # space-separated provider ids, "" when none.
    stale_rolls: Mapped[str | None] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("as_of", "child_id"),)


class CmeList(Base):
    """One row per date a CME list was computed, even an empty one, so an export can tell
    "nobody is missing" from "the list was never made"."""
    __tablename__ = "cme_lists"
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    flagged: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime)


class PostcodeDirectory(Base):
    """Reference data the operator supplies: postcode to local authority district (ONS postcode
    directory) and to the 3-digit LA code. Replaced whole by each load; see ReferenceData."""
    __tablename__ = "postcode_directory"
    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)  # normalised 'OUT IN'
    lad_code: Mapped[str] = mapped_column(String(9))
    la_code: Mapped[str] = mapped_column(String(3))


class ReferenceData(Base):
    """Which version of each reference data set is loaded, and when."""
    __tablename__ = "reference_data"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(DateTime)


class RecordCluster(Base):
    """The newest linkage's grouping of current records, written by the links asset and read by
    the register asset: assets hand over through the database, never through Dagster's own
    storage (which would hold a copy of children's data outside the register)."""
    __tablename__ = "record_clusters"
    record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"), primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer)


class RegisterState(Base):
    """Small named values the pipeline keeps between runs (for example the fingerprint of the
    inputs the current links were computed from)."""
    __tablename__ = "register_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEntry(Base):
    """One entry of the append-only audit log: who, when, from where, what action, which
    children (register ids, never names), why, and the hash of the entry before (oversight.audit).
    Triggers refuse an update or delete; on PostgreSQL the service's role may only insert and read."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1, 2, 3 ... no gaps
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(150))
    source: Mapped[str | None] = mapped_column(String(64))  # the client's address, or "cli"
    action: Mapped[str] = mapped_column(String(40))
    children: Mapped[str | None] = mapped_column(Text)  # child ids, space-separated
    detail: Mapped[str | None] = mapped_column(Text)  # JSON, no personal data
    reason: Mapped[str | None] = mapped_column(Text)  # as the user stated it
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_audit_log_actor_at", "actor", "at"), Index("ix_audit_log_at", "at"))


class AuditChild(Base):
    """Which audit entries name a child: the search index of audit_log.children (checked against
    it by `rollcall audit verify`)."""
    __tablename__ = "audit_children"
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    __table_args__ = (Index("ix_audit_children_child_id", "child_id"),)


class AuditCheckpoint(Base):
    """A signature over the newest entry's id and hash, with a key kept outside the database,
    written every so many entries: the log cannot be rewritten or cut short behind it."""
    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    entry_id: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))  # which public key verifies it
    signature: Mapped[str] = mapped_column(Text)  # Ed25519, hex


class AuditHead(Base):
    """One row: the newest entry's id and hash. Every append updates it first, which makes
    writers take turns (a row lock on PostgreSQL, the write lock on SQLite)."""
    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AccessAlert(Base):
    """An alert about how someone used the register (oversight.access_alerts): break-glass,
    unusual access. It goes to the authority's privacy officer and waits on the administrators'
    page until someone handles it. Child ids only, never personal data."""
    __tablename__ = "access_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    rule: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(150))
    la_codes: Mapped[str | None] = mapped_column(Text)  # space-separated: whose privacy officers hear
    children: Mapped[str | None] = mapped_column(Text)  # child ids, space-separated
    detail: Mapped[str | None] = mapped_column(Text)  # JSON, no personal data
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)  # one alert per rule, user and window
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)  # queued to the alert routes (the outbox)
    status: Mapped[str] = mapped_column(String(8), default="open", server_default="open")
    handled_by: Mapped[str | None] = mapped_column(String(150))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_access_alerts_status", "status"),)


class OutboxMessage(Base):
    """An alert waiting to reach people (alerts.channels): its kind and authority pick the routes
    (the routes file), its text holds no personal data. Sent once; a failure is counted and
    retried at the next delivery."""
    __tablename__ = "alert_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(40))
    la_code: Mapped[str | None] = mapped_column(String(3))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)  # an error class and where, never a message text
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_alert_outbox_sent_at", "sent_at"),)


class ShieldedMember(Base):
    """The shield's scope as the last run left it (oversight.shield): every record key ("r") and
    register child ("c") it covers, with no personal data. Pages read it instead of computing
    the scope again; register_state "shield_scope" says which register state it was made for."""
    __tablename__ = "shield_scope"
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)


class ReviewDecision(Base):
    """Every decision an analyst made on a pair of records, never changed or deleted: the
    pair's ruling is its newest same/different decision not undone (linkage.review)."""
    __tablename__ = "review_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_a: Mapped[str] = mapped_column(Text)
    key_b: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(16))  # same, different, unsure, skip, undo
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(150))
    decided_at: Mapped[datetime] = mapped_column(DateTime)
    score_shown: Mapped[bool] = mapped_column(Boolean)  # the model's score biases reviewers
    against_model: Mapped[bool] = mapped_column(Boolean)
    model_id: Mapped[int | None] = mapped_column(Integer)
    blind_second: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    __table_args__ = (Index("ix_review_decisions_keys", "key_a", "key_b"),
                      Index("ix_review_decisions_decided_at", "decided_at"))


class CmeCase(Base):
    """A CME officer's case on a flagged child, lasting across runs. A closed case keeps the
    evidence it was closed on; it comes back only when newer evidence arrives."""
    __tablename__ = "cme_cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    child_id: Mapped[str] = mapped_column(String(16))
    la_code: Mapped[str] = mapped_column(String(3))
    opened_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))  # open, closed
    outcome: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(150))
    evidence: Mapped[str | None] = mapped_column(Text)  # JSON: what the register held when it closed
    version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    officer: Mapped[str | None] = mapped_column(String(150))  # the user name of the officer it is assigned to
    next_action: Mapped[str | None] = mapped_column(String(32))  # a step of cme.cases.NEXT_ACTIONS
    due_on: Mapped[date | None] = mapped_column(Date)  # when the next action is due
    found_on: Mapped[date | None] = mapped_column(Date)  # closing: the date the outcome was established
    found_at: Mapped[str | None] = mapped_column(String(120))  # closing: the school or authority found
    found_evidence: Mapped[str | None] = mapped_column(Text)  # closing: how the outcome was established
    __table_args__ = (Index("ix_cme_cases_child_id", "child_id"),
                      Index("ix_cme_cases_la_code_status", "la_code", "status"))


class CaseNote(Base):
    """A dated enquiry note on a case (a call, a letter, a visit, a check with another service)."""
    __tablename__ = "case_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cme_cases.id"))
    written_at: Mapped[datetime] = mapped_column(DateTime)
    author: Mapped[str] = mapped_column(String(150))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_case_notes_case_id", "case_id"),)


class CaseTimescale(Base):
    """An authority's timescale for a step of a CME case (its CME policy): the working days from
    the day a step is set to the day it is due. A step with no row here takes the default in
    cme.cases.NEXT_ACTIONS."""
    __tablename__ = "case_timescales"
    la_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    working_days: Mapped[int] = mapped_column(Integer)


class ProviderStatus(Base):
    """Each provider's deliveries as last checked (sources.deliveries): when its newest extract
    is dated, how often one is expected (configured, learned or the default), when the next is
    due, and whether it is late or its roll stale. Replaced whole at each check."""
    __tablename__ = "provider_status"
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    feed: Mapped[str | None] = mapped_column(String(16))
    la_code: Mapped[str | None] = mapped_column(String(3))  # the authority it reports to ("" for health)
    last_extract: Mapped[date | None] = mapped_column(Date)
    last_received: Mapped[datetime | None] = mapped_column(DateTime)
    extracts: Mapped[int] = mapped_column(Integer)
    cadence_days: Mapped[int] = mapped_column(Integer)
    cadence_source: Mapped[str] = mapped_column(String(12))  # configured, learned, default
    due: Mapped[date | None] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean)
    stale: Mapped[bool] = mapped_column(Boolean)
    checked_on: Mapped[date] = mapped_column(Date)
    alerted_due: Mapped[date | None] = mapped_column(Date)  # the due date an alert was raised for


class ChildEvent(Base):
    """A child's history, one row per change (linkage.histories): created, record_joined,
    record_left, merged_into, split_from, retired, revived; when, and its cause (the run, and
    the analyst decision that led to it, if one did). Never changed or deleted."""
    __tablename__ = "child_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    child_id: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime)
    event: Mapped[str] = mapped_column(String(16))
    record_key: Mapped[str | None] = mapped_column(Text)  # the keyed hash, never an identifier
    other_child_id: Mapped[str | None] = mapped_column(String(16))  # where a record went, or came from
    cause: Mapped[str] = mapped_column(Text)  # "run <Dagster run id>" or the command that changed it
    decision_id: Mapped[int | None] = mapped_column(Integer)  # the analyst decision behind it
    __table_args__ = (Index("ix_child_events_child_id", "child_id"),
                      Index("ix_child_events_record_key", "record_key"))


KEY_SLOTS = 23  # blocking-key columns in record_index (matching.block.key_columns fills them in order)


class RecordIndex(Base):
    """What the last link knew of each current record, so the next one reads only what changed
    (linkage.link_index): its key, a hash of its linkage fields, its standardised given and
    family names (for the register's name frequencies) and its blocking keys as 63-bit hashes
    (k0 to k22; a slot no rule uses stays empty)."""
    __tablename__ = "record_index"
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_key: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(String(32))
    given: Mapped[str] = mapped_column(Text)
    family: Mapped[str] = mapped_column(Text)
    k0: Mapped[int | None] = mapped_column(BigInteger)
    k1: Mapped[int | None] = mapped_column(BigInteger)
    k2: Mapped[int | None] = mapped_column(BigInteger)
    k3: Mapped[int | None] = mapped_column(BigInteger)
    k4: Mapped[int | None] = mapped_column(BigInteger)
    k5: Mapped[int | None] = mapped_column(BigInteger)
    k6: Mapped[int | None] = mapped_column(BigInteger)
    k7: Mapped[int | None] = mapped_column(BigInteger)
    k8: Mapped[int | None] = mapped_column(BigInteger)
    k9: Mapped[int | None] = mapped_column(BigInteger)
    k10: Mapped[int | None] = mapped_column(BigInteger)
    k11: Mapped[int | None] = mapped_column(BigInteger)
    k12: Mapped[int | None] = mapped_column(BigInteger)
    k13: Mapped[int | None] = mapped_column(BigInteger)
    k14: Mapped[int | None] = mapped_column(BigInteger)
    k15: Mapped[int | None] = mapped_column(BigInteger)
    k16: Mapped[int | None] = mapped_column(BigInteger)
    k17: Mapped[int | None] = mapped_column(BigInteger)
    k18: Mapped[int | None] = mapped_column(BigInteger)
    k19: Mapped[int | None] = mapped_column(BigInteger)
    k20: Mapped[int | None] = mapped_column(BigInteger)
    k21: Mapped[int | None] = mapped_column(BigInteger)
    k22: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_record_index_record_key", "record_key"),
                      *[Index(f"ix_record_index_k{i}", f"k{i}") for i in range(KEY_SLOTS)])


class CnisEntry(Base):
    """A child's entry on an authority's children-not-in-school register (Education Act 1996
    s.436B): open while the child lives there, is of compulsory school age and is on no school's
    roll or is on one but educated elsewhere part of the time. The basis says which; an entry
    ends with its reason (usually a school's roll taking the child) and is kept."""
    __tablename__ = "cnis_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    child_id: Mapped[str] = mapped_column(String(16))
    la_code: Mapped[str] = mapped_column(String(3))
    basis: Mapped[str] = mapped_column(String(16))  # a key of cnis.membership.BASES
    detail: Mapped[str | None] = mapped_column(String(32))  # the CME reason or the EHE reason
    hours_elsewhere: Mapped[float | None] = mapped_column(Float)
    started_on: Mapped[date] = mapped_column(Date)  # the day the child was entered on the register
    basis_since: Mapped[date | None] = mapped_column(Date)  # the day home education (or the basis) began
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(24))  # a key of cnis.membership.END_REASONS
    ended_at_school: Mapped[str | None] = mapped_column(String(7))  # the school whose roll took the child
    extra_items: Mapped[str | None] = mapped_column(Text)  # JSON: items regulations add (configured)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    __table_args__ = (Index("ix_cnis_entries_child_id", "child_id"),
                      Index("ix_cnis_entries_la_code_ended_on", "la_code", "ended_on"))


class CnisStep(Base):
    """A duty on a register entry, as case work: the home-visit request (s.436B), a request to
    the parents (s.436D) or to a provider (s.436E) with its response due date, the notice that
    starts the school attendance order process (s.437(1)), an order issued or revoked."""
    __tablename__ = "cnis_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("cnis_entries.id"))
    la_code: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(24))  # a key of cnis.duties.STEPS
    opened_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(24))
    provider_key: Mapped[str | None] = mapped_column(String(64))  # the provider asked (s.436E), normalised
    provider_name: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(150))
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_cnis_steps_entry_id", "entry_id"),
                      Index("ix_cnis_steps_la_code_provider_key", "la_code", "provider_key"))
