"""What the policy says of jobs (rule 8): who may see one, registered with `access.policy.holding`."""

from __future__ import annotations

from causeway.access.errors import NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor, Holding, Standing, deny_hidden, holding, in_workspace, uuid_or_none
from causeway.runs.models import Job
from causeway.workspaces.models import Workspace


@holding.register
def job_holding(job: Job, st: Standing) -> Holding:
    visible = Job.objects.visible_to(st.actor, st.workspace).filter(pk=job.pk).exists()
    return Holding(frozenset({Perm.JOB_VIEW}) if visible else frozenset(), job.environment)


def job_get(actor: Actor | None, workspace: Workspace, ref: object) -> Job:
    """One job the actor may see (rule 8); any other is NotFound, as rule 9 says of a job one cannot read."""
    pk = uuid_or_none(ref)
    found = Job.objects.filter(pk=pk).select_related("workspace").first() if pk else None
    in_workspace(actor, workspace, found, Perm.JOB_VIEW, "job")
    assert found is not None  # nosec B101
    if not Job.objects.visible_to(actor, workspace).filter(pk=found.pk).exists():
        deny_hidden(actor, workspace, found, Perm.JOB_VIEW)
        raise NotFound("job")
    return found
