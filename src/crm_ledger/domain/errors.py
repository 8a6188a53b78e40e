"""The one domain error hierarchy. The HTTP layer maps every class to a status.

::

    DomainError
    ├── NotFoundError                 an aggregate id is unknown (or of another kind)
    ├── VersionConflictError          the version the caller saw is not the current one
    ├── PreconditionRequiredError     a change was sent without the version it is based on
    ├── InvalidCommandError           an input value breaks a business rule
    │   ├── ContactKindChangeError    a contact's kind is fixed at registration
    │   ├── OrganisationLinkError     organisation link on an organisation, or to itself
    │   ├── ContactMergeError         a merge that can never be valid
    │   │   ├── ContactSelfMergeError     a contact merged into itself
    │   │   └── ContactKindMismatchError  a person merged with an organisation
    │   └── ApiKeyRevokedError        (domain.api_key) the key is already revoked
    └── ContactError                  a command not allowed in the contact's state
        ├── ContactArchivedError      a change to an archived contact
        ├── ContactAlreadyArchivedError
        ├── ContactNotArchivedError   restore of a contact that is not archived
        ├── ContactMergedError        any command on a contact merged into another
        └── ContactErasedError        any command on a contact whose data was erased
"""

from __future__ import annotations


class DomainError(Exception):
    """Root of every business-rule failure; `detail` is a human sentence."""

    title = "Request refused"
    code = "domain_error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)


class NotFoundError(DomainError):
    """No aggregate of that kind with that id."""

    title = "Not found"
    code = "not_found"

    def __init__(self, *, kind: str, id: str) -> None:
        self.kind, self.id = kind, id
        super().__init__(f"no {kind} with id {id}")


class VersionConflictError(DomainError):
    """The caller's expected version differs from the current one."""

    title = "Version conflict"
    code = "version_conflict"

    def __init__(
        self, *, expected: int | None, actual: int | None, detail: str | None = None
    ) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(detail or f"expected version {expected}, current version is {actual}")


class PreconditionRequiredError(DomainError):
    """A change was sent without If-Match."""

    title = "Precondition required"
    code = "precondition_required"


class InvalidCommandError(DomainError):
    """An input value breaks a business rule; `field` names it when known."""

    title = "Invalid command"
    code = "invalid_command"

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(detail)


class ContactKindChangeError(InvalidCommandError):
    """A contact's kind cannot change."""

    title = "Contact kind cannot change"
    code = "contact_kind_fixed"


class OrganisationLinkError(InvalidCommandError):
    """Only a person may link to an organisation, and not to itself."""

    title = "Invalid organisation link"
    code = "invalid_organisation_link"


class ContactError(DomainError):
    """A command that the contact's current state does not allow."""

    title = "Contact state conflict"
    code = "contact_conflict"


class ContactArchivedError(ContactError):
    """The contact is archived; restore it first."""

    title = "Contact archived"
    code = "contact_archived"


class ContactAlreadyArchivedError(ContactError):
    """The contact is already archived."""

    title = "Contact already archived"
    code = "contact_already_archived"


class ContactNotArchivedError(ContactError):
    """Only an archived contact can be restored."""

    title = "Contact not archived"
    code = "contact_not_archived"


class ContactMergedError(ContactError):
    """The contact was merged into another one and is frozen; use the survivor."""

    title = "Contact merged"
    code = "contact_merged"


class ContactErasedError(ContactError):
    """The contact's personal data was erased; it takes no more commands or records."""

    title = "Contact erased"
    code = "contact_erased"


class ContactMergeError(InvalidCommandError):
    """A merge that no state of the contacts could make valid."""

    title = "Invalid contact merge"
    code = "invalid_contact_merge"


class ContactSelfMergeError(ContactMergeError):
    """A contact cannot be merged into itself."""

    title = "Contact merged into itself"
    code = "contact_self_merge"


class ContactKindMismatchError(ContactMergeError):
    """Only two people, or two organisations, can be merged."""

    title = "Contact kinds differ"
    code = "contact_kind_mismatch"
