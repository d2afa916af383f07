from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NoteEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTE_EVENT_TYPE_UNSPECIFIED: _ClassVar[NoteEventType]
    NOTE_EVENT_TYPE_NOTE_ON: _ClassVar[NoteEventType]
    NOTE_EVENT_TYPE_NOTE_OFF: _ClassVar[NoteEventType]
    NOTE_EVENT_TYPE_SUSTAIN_ON: _ClassVar[NoteEventType]
    NOTE_EVENT_TYPE_SUSTAIN_OFF: _ClassVar[NoteEventType]

class ModerationAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODERATION_ACTION_UNSPECIFIED: _ClassVar[ModerationAction]
    MODERATION_ACTION_KICK: _ClassVar[ModerationAction]
    MODERATION_ACTION_BAN: _ClassVar[ModerationAction]
    MODERATION_ACTION_UNBAN: _ClassVar[ModerationAction]
    MODERATION_ACTION_MUTE: _ClassVar[ModerationAction]
    MODERATION_ACTION_UNMUTE: _ClassVar[ModerationAction]
    MODERATION_ACTION_GIVE_OWNERSHIP: _ClassVar[ModerationAction]

class RemovalReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMOVAL_REASON_UNSPECIFIED: _ClassVar[RemovalReason]
    REMOVAL_REASON_KICKED: _ClassVar[RemovalReason]
    REMOVAL_REASON_BANNED: _ClassVar[RemovalReason]
    REMOVAL_REASON_ROOM_CLOSED: _ClassVar[RemovalReason]
    REMOVAL_REASON_SITE_BANNED: _ClassVar[RemovalReason]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_BAD_MESSAGE: _ClassVar[ErrorCode]
    ERROR_CODE_UNAUTHENTICATED: _ClassVar[ErrorCode]
    ERROR_CODE_FORBIDDEN: _ClassVar[ErrorCode]
    ERROR_CODE_ROOM_NOT_FOUND: _ClassVar[ErrorCode]
    ERROR_CODE_ROOM_FULL: _ClassVar[ErrorCode]
    ERROR_CODE_WRONG_PASSWORD: _ClassVar[ErrorCode]
    ERROR_CODE_BANNED: _ClassVar[ErrorCode]
    ERROR_CODE_RATE_LIMITED: _ClassVar[ErrorCode]
    ERROR_CODE_NOT_IN_ROOM: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_ARGUMENT: _ClassVar[ErrorCode]
    ERROR_CODE_CHAT_DISABLED: _ClassVar[ErrorCode]
    ERROR_CODE_MUTED: _ClassVar[ErrorCode]
    ERROR_CODE_GUESTS_NOT_ALLOWED: _ClassVar[ErrorCode]
    ERROR_CODE_INTERNAL: _ClassVar[ErrorCode]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_GUEST: _ClassVar[Role]
    ROLE_MEMBER: _ClassVar[Role]
    ROLE_MODERATOR: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
NOTE_EVENT_TYPE_UNSPECIFIED: NoteEventType
NOTE_EVENT_TYPE_NOTE_ON: NoteEventType
NOTE_EVENT_TYPE_NOTE_OFF: NoteEventType
NOTE_EVENT_TYPE_SUSTAIN_ON: NoteEventType
NOTE_EVENT_TYPE_SUSTAIN_OFF: NoteEventType
MODERATION_ACTION_UNSPECIFIED: ModerationAction
MODERATION_ACTION_KICK: ModerationAction
MODERATION_ACTION_BAN: ModerationAction
MODERATION_ACTION_UNBAN: ModerationAction
MODERATION_ACTION_MUTE: ModerationAction
MODERATION_ACTION_UNMUTE: ModerationAction
MODERATION_ACTION_GIVE_OWNERSHIP: ModerationAction
REMOVAL_REASON_UNSPECIFIED: RemovalReason
REMOVAL_REASON_KICKED: RemovalReason
REMOVAL_REASON_BANNED: RemovalReason
REMOVAL_REASON_ROOM_CLOSED: RemovalReason
REMOVAL_REASON_SITE_BANNED: RemovalReason
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_BAD_MESSAGE: ErrorCode
ERROR_CODE_UNAUTHENTICATED: ErrorCode
ERROR_CODE_FORBIDDEN: ErrorCode
ERROR_CODE_ROOM_NOT_FOUND: ErrorCode
ERROR_CODE_ROOM_FULL: ErrorCode
ERROR_CODE_WRONG_PASSWORD: ErrorCode
ERROR_CODE_BANNED: ErrorCode
ERROR_CODE_RATE_LIMITED: ErrorCode
ERROR_CODE_NOT_IN_ROOM: ErrorCode
ERROR_CODE_INVALID_ARGUMENT: ErrorCode
ERROR_CODE_CHAT_DISABLED: ErrorCode
ERROR_CODE_MUTED: ErrorCode
ERROR_CODE_GUESTS_NOT_ALLOWED: ErrorCode
ERROR_CODE_INTERNAL: ErrorCode
ROLE_UNSPECIFIED: Role
ROLE_GUEST: Role
ROLE_MEMBER: Role
ROLE_MODERATOR: Role
ROLE_ADMIN: Role

class ClientMessage(_message.Message):
    __slots__ = ("join_room", "leave_room", "note_batch", "chat", "time_sync", "update_room", "moderate", "cursor", "room_list", "update_profile")
    JOIN_ROOM_FIELD_NUMBER: _ClassVar[int]
    LEAVE_ROOM_FIELD_NUMBER: _ClassVar[int]
    NOTE_BATCH_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    TIME_SYNC_FIELD_NUMBER: _ClassVar[int]
    UPDATE_ROOM_FIELD_NUMBER: _ClassVar[int]
    MODERATE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ROOM_LIST_FIELD_NUMBER: _ClassVar[int]
    UPDATE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    join_room: JoinRoom
    leave_room: LeaveRoom
    note_batch: NoteBatch
    chat: ChatSend
    time_sync: TimeSync
    update_room: UpdateRoom
    moderate: Moderate
    cursor: Cursor
    room_list: SubscribeRoomList
    update_profile: UpdateProfile
    def __init__(self, join_room: _Optional[_Union[JoinRoom, _Mapping]] = ..., leave_room: _Optional[_Union[LeaveRoom, _Mapping]] = ..., note_batch: _Optional[_Union[NoteBatch, _Mapping]] = ..., chat: _Optional[_Union[ChatSend, _Mapping]] = ..., time_sync: _Optional[_Union[TimeSync, _Mapping]] = ..., update_room: _Optional[_Union[UpdateRoom, _Mapping]] = ..., moderate: _Optional[_Union[Moderate, _Mapping]] = ..., cursor: _Optional[_Union[Cursor, _Mapping]] = ..., room_list: _Optional[_Union[SubscribeRoomList, _Mapping]] = ..., update_profile: _Optional[_Union[UpdateProfile, _Mapping]] = ...) -> None: ...

class JoinRoom(_message.Message):
    __slots__ = ("room_name", "password", "create_if_missing", "settings")
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    room_name: str
    password: str
    create_if_missing: bool
    settings: RoomSettings
    def __init__(self, room_name: _Optional[str] = ..., password: _Optional[str] = ..., create_if_missing: _Optional[bool] = ..., settings: _Optional[_Union[RoomSettings, _Mapping]] = ...) -> None: ...

class LeaveRoom(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NoteBatch(_message.Message):
    __slots__ = ("start_time", "notes")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    start_time: float
    notes: _containers.RepeatedCompositeFieldContainer[NoteEvent]
    def __init__(self, start_time: _Optional[float] = ..., notes: _Optional[_Iterable[_Union[NoteEvent, _Mapping]]] = ...) -> None: ...

class NoteEvent(_message.Message):
    __slots__ = ("type", "key", "velocity", "delay_ms", "channel")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    type: NoteEventType
    key: int
    velocity: int
    delay_ms: int
    channel: int
    def __init__(self, type: _Optional[_Union[NoteEventType, str]] = ..., key: _Optional[int] = ..., velocity: _Optional[int] = ..., delay_ms: _Optional[int] = ..., channel: _Optional[int] = ...) -> None: ...

class ChatSend(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class TimeSync(_message.Message):
    __slots__ = ("client_time",)
    CLIENT_TIME_FIELD_NUMBER: _ClassVar[int]
    client_time: float
    def __init__(self, client_time: _Optional[float] = ...) -> None: ...

class UpdateRoom(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: RoomSettings
    def __init__(self, settings: _Optional[_Union[RoomSettings, _Mapping]] = ...) -> None: ...

class Moderate(_message.Message):
    __slots__ = ("action", "target_user_id", "duration_seconds", "reason")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_USER_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    action: ModerationAction
    target_user_id: str
    duration_seconds: int
    reason: str
    def __init__(self, action: _Optional[_Union[ModerationAction, str]] = ..., target_user_id: _Optional[str] = ..., duration_seconds: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Cursor(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class SubscribeRoomList(_message.Message):
    __slots__ = ("subscribe", "query")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    subscribe: bool
    query: str
    def __init__(self, subscribe: _Optional[bool] = ..., query: _Optional[str] = ...) -> None: ...

class UpdateProfile(_message.Message):
    __slots__ = ("display_name", "color")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    color: str
    def __init__(self, display_name: _Optional[str] = ..., color: _Optional[str] = ...) -> None: ...

class ServerFrame(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ServerMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[ServerMessage, _Mapping]]] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("welcome", "room_state", "member_joined", "member_left", "member_updated", "note_batch", "chat", "room_updated", "removed", "error", "time_sync", "room_list", "cursor", "note_quota", "chat_deleted")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ROOM_STATE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_JOINED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_LEFT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_UPDATED_FIELD_NUMBER: _ClassVar[int]
    NOTE_BATCH_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    ROOM_UPDATED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIME_SYNC_FIELD_NUMBER: _ClassVar[int]
    ROOM_LIST_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    NOTE_QUOTA_FIELD_NUMBER: _ClassVar[int]
    CHAT_DELETED_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    room_state: RoomState
    member_joined: MemberJoined
    member_left: MemberLeft
    member_updated: MemberUpdated
    note_batch: RelayedNotes
    chat: ChatMessage
    room_updated: RoomUpdated
    removed: Removed
    error: Error
    time_sync: TimeSyncReply
    room_list: RoomList
    cursor: CursorMoved
    note_quota: NoteQuota
    chat_deleted: ChatDeleted
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., room_state: _Optional[_Union[RoomState, _Mapping]] = ..., member_joined: _Optional[_Union[MemberJoined, _Mapping]] = ..., member_left: _Optional[_Union[MemberLeft, _Mapping]] = ..., member_updated: _Optional[_Union[MemberUpdated, _Mapping]] = ..., note_batch: _Optional[_Union[RelayedNotes, _Mapping]] = ..., chat: _Optional[_Union[ChatMessage, _Mapping]] = ..., room_updated: _Optional[_Union[RoomUpdated, _Mapping]] = ..., removed: _Optional[_Union[Removed, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., time_sync: _Optional[_Union[TimeSyncReply, _Mapping]] = ..., room_list: _Optional[_Union[RoomList, _Mapping]] = ..., cursor: _Optional[_Union[CursorMoved, _Mapping]] = ..., note_quota: _Optional[_Union[NoteQuota, _Mapping]] = ..., chat_deleted: _Optional[_Union[ChatDeleted, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("session_id", "user", "server_time", "server_version", "note_quota")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOTE_QUOTA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    user: UserInfo
    server_time: float
    server_version: str
    note_quota: NoteQuota
    def __init__(self, session_id: _Optional[str] = ..., user: _Optional[_Union[UserInfo, _Mapping]] = ..., server_time: _Optional[float] = ..., server_version: _Optional[str] = ..., note_quota: _Optional[_Union[NoteQuota, _Mapping]] = ...) -> None: ...

class RoomState(_message.Message):
    __slots__ = ("room", "members", "recent_chat")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    RECENT_CHAT_FIELD_NUMBER: _ClassVar[int]
    room: RoomInfo
    members: _containers.RepeatedCompositeFieldContainer[Member]
    recent_chat: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    def __init__(self, room: _Optional[_Union[RoomInfo, _Mapping]] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., recent_chat: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ...) -> None: ...

class MemberJoined(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class MemberLeft(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class MemberUpdated(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class RelayedNotes(_message.Message):
    __slots__ = ("session_id", "start_time", "notes")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    start_time: float
    notes: _containers.RepeatedCompositeFieldContainer[NoteEvent]
    def __init__(self, session_id: _Optional[str] = ..., start_time: _Optional[float] = ..., notes: _Optional[_Iterable[_Union[NoteEvent, _Mapping]]] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("id", "session_id", "user_id", "display_name", "text", "sent_at", "role")
    ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    session_id: str
    user_id: str
    display_name: str
    text: str
    sent_at: float
    role: Role
    def __init__(self, id: _Optional[str] = ..., session_id: _Optional[str] = ..., user_id: _Optional[str] = ..., display_name: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[float] = ..., role: _Optional[_Union[Role, str]] = ...) -> None: ...

class RoomUpdated(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: RoomInfo
    def __init__(self, room: _Optional[_Union[RoomInfo, _Mapping]] = ...) -> None: ...

class Removed(_message.Message):
    __slots__ = ("reason", "message", "until")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    reason: RemovalReason
    message: str
    until: float
    def __init__(self, reason: _Optional[_Union[RemovalReason, str]] = ..., message: _Optional[str] = ..., until: _Optional[float] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "request", "fields")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    request: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldError]
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., request: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("field", "message")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    field: str
    message: str
    def __init__(self, field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TimeSyncReply(_message.Message):
    __slots__ = ("client_time", "server_time")
    CLIENT_TIME_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    client_time: float
    server_time: float
    def __init__(self, client_time: _Optional[float] = ..., server_time: _Optional[float] = ...) -> None: ...

class RoomList(_message.Message):
    __slots__ = ("rooms", "full", "removed_room_ids", "truncated")
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    REMOVED_ROOM_IDS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    rooms: _containers.RepeatedCompositeFieldContainer[RoomSummary]
    full: bool
    removed_room_ids: _containers.RepeatedScalarFieldContainer[str]
    truncated: bool
    def __init__(self, rooms: _Optional[_Iterable[_Union[RoomSummary, _Mapping]]] = ..., full: _Optional[bool] = ..., removed_room_ids: _Optional[_Iterable[str]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CursorMoved(_message.Message):
    __slots__ = ("session_id", "x", "y")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    x: float
    y: float
    def __init__(self, session_id: _Optional[str] = ..., x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class NoteQuota(_message.Message):
    __slots__ = ("allowance", "max", "interval_ms")
    ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    allowance: int
    max: int
    interval_ms: int
    def __init__(self, allowance: _Optional[int] = ..., max: _Optional[int] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class ChatDeleted(_message.Message):
    __slots__ = ("message_ids", "all")
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    def __init__(self, message_ids: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ...) -> None: ...

class UserInfo(_message.Message):
    __slots__ = ("id", "username", "display_name", "color", "role", "is_guest")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IS_GUEST_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    display_name: str
    color: str
    role: Role
    is_guest: bool
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., color: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., is_guest: _Optional[bool] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("session_id", "user", "is_owner", "muted", "joined_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    IS_OWNER_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    user: UserInfo
    is_owner: bool
    muted: bool
    joined_at: float
    def __init__(self, session_id: _Optional[str] = ..., user: _Optional[_Union[UserInfo, _Mapping]] = ..., is_owner: _Optional[bool] = ..., muted: _Optional[bool] = ..., joined_at: _Optional[float] = ...) -> None: ...

class RoomInfo(_message.Message):
    __slots__ = ("id", "name", "settings", "owner_user_id", "is_lobby", "has_password", "member_count", "room_owner_user_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    IS_LOBBY_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROOM_OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    settings: RoomSettings
    owner_user_id: str
    is_lobby: bool
    has_password: bool
    member_count: int
    room_owner_user_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., settings: _Optional[_Union[RoomSettings, _Mapping]] = ..., owner_user_id: _Optional[str] = ..., is_lobby: _Optional[bool] = ..., has_password: _Optional[bool] = ..., member_count: _Optional[int] = ..., room_owner_user_id: _Optional[str] = ...) -> None: ...

class RoomSettings(_message.Message):
    __slots__ = ("max_members", "is_public", "allow_guests", "chat_enabled", "only_owner_can_play", "only_owner_can_chat", "unlimited_notes", "welcome_message", "color", "persistent", "password")
    MAX_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    IS_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    ALLOW_GUESTS_FIELD_NUMBER: _ClassVar[int]
    CHAT_ENABLED_FIELD_NUMBER: _ClassVar[int]
    ONLY_OWNER_CAN_PLAY_FIELD_NUMBER: _ClassVar[int]
    ONLY_OWNER_CAN_CHAT_FIELD_NUMBER: _ClassVar[int]
    UNLIMITED_NOTES_FIELD_NUMBER: _ClassVar[int]
    WELCOME_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    max_members: int
    is_public: bool
    allow_guests: bool
    chat_enabled: bool
    only_owner_can_play: bool
    only_owner_can_chat: bool
    unlimited_notes: bool
    welcome_message: str
    color: str
    persistent: bool
    password: str
    def __init__(self, max_members: _Optional[int] = ..., is_public: _Optional[bool] = ..., allow_guests: _Optional[bool] = ..., chat_enabled: _Optional[bool] = ..., only_owner_can_play: _Optional[bool] = ..., only_owner_can_chat: _Optional[bool] = ..., unlimited_notes: _Optional[bool] = ..., welcome_message: _Optional[str] = ..., color: _Optional[str] = ..., persistent: _Optional[bool] = ..., password: _Optional[str] = ...) -> None: ...

class RoomSummary(_message.Message):
    __slots__ = ("id", "name", "member_count", "max_members", "has_password", "is_lobby", "color")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    IS_LOBBY_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    member_count: int
    max_members: int
    has_password: bool
    is_lobby: bool
    color: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., member_count: _Optional[int] = ..., max_members: _Optional[int] = ..., has_password: _Optional[bool] = ..., is_lobby: _Optional[bool] = ..., color: _Optional[str] = ...) -> None: ...
