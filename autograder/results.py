"""Result records of a grading run: plain dataclasses with derived totals and ``to_dict`` for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Submission statuses: graded (checks ran), error (kernel died / grader failed), timeout,
# memory (memory limit hit), invalid (not a notebook of a known assignment).
SUBMISSION_STATUSES = ("graded", "error", "timeout", "memory", "invalid")
CHECK_STATUSES = ("passed", "failed", "error", "skipped")


@dataclass(frozen=True)
class CheckResult:
    name: str
    question: str
    max_points: float
    status: str
    message: str = ""
    hidden: bool = False

    @property
    def points(self) -> float:
        return self.max_points if self.status == "passed" else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["points"] = self.points
        return d


@dataclass
class SubmissionResult:
    assignment: str
    submission: str
    status: str
    checks: list[CheckResult] = field(default_factory=list)
    reason: str = ""
    student: str = ""
    notes: list[str] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    measurements: dict = field(default_factory=dict)   # numeric values checks judged (accuracies, losses)
    sha256: str = ""   # of the submitted notebook's bytes: a batch re-grades a changed resubmission

    @property
    def score(self) -> float:
        return round(sum(c.points for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        # A skipped check (e.g. it needs ImageNet weights the grader lacks) counts neither for nor against.
        return round(sum(c.max_points for c in self.checks if c.status != "skipped"), 6)

    def to_dict(self) -> dict:
        return {
            "assignment": self.assignment,
            "submission": self.submission,
            "student": self.student,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
            "environment": dict(self.environment),
            "timings": dict(self.timings),
            "measurements": dict(self.measurements),
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        checks = [
            CheckResult(c["name"], c["question"], c["max_points"], c["status"], c.get("message", ""), c.get("hidden", False))
            for c in d.get("checks", [])
        ]
        return cls(
            assignment=d["assignment"], submission=d["submission"], status=d["status"], checks=checks,
            reason=d.get("reason", ""), student=d.get("student", ""), notes=d.get("notes", []),
            environment=d.get("environment", {}), timings=d.get("timings", {}),
            measurements=d.get("measurements", {}), sha256=d.get("sha256", ""),
        )
