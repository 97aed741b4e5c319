"""Moderation through the Django admin.

- Chat messages: "delete" is a soft delete (members get `chat.deleted` live and
  the message leaves history); an action mutes the authors for an hour.
- Mutes: add one with an `until` time; the user's sends get error `muted`.
- Rooms, seats, notifications, presence rows and match results are browsable.
- Tasks (the outbox, docs/tasks.md): filter by status; "Retry" makes dead tasks
  pending again with fresh attempts, and the workers' sweeper sends them.
- Player stats: totals and ratings per player and game.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from lobby import chat, outbox
from lobby.models import (
    ChatMessage,
    MatchPlayer,
    MatchResult,
    Mute,
    Notification,
    PlayerStats,
    Presence,
    Room,
    Seat,
    Task,
    User,
)


@admin.register(User)
class PlayerAdmin(UserAdmin):  # type: ignore[type-arg]
    list_display = ("id", "display_name", "username", "is_guest", "is_staff", "date_joined")
    search_fields = ("display_name", "username")
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Player", {"fields": ("display_name", "is_guest")}))


class SeatInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Seat
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "phase", "max_players", "private", "created_at", "closed_at")
    list_filter = ("private", "phase")
    search_fields = ("name",)
    raw_id_fields = ("created_by",)
    inlines = [SeatInline]


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "channel", "user", "text", "created_at", "deleted_at")
    list_filter = ("channel",)
    search_fields = ("text", "user__display_name")
    raw_id_fields = ("user",)
    readonly_fields = ("channel", "user", "text", "created_at", "deleted_at")
    actions = ["soft_delete", "mute_authors_one_hour"]

    def delete_model(self, request: HttpRequest, obj: ChatMessage) -> None:
        chat.delete_message(obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            chat.delete_message(pk)

    @admin.action(description="Delete for everyone (soft delete)")
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        count = sum(chat.delete_message(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} message(s) deleted", messages.SUCCESS)

    @admin.action(description="Mute the authors for one hour")
    def mute_authors_one_hour(
        self, request: HttpRequest, queryset: QuerySet[ChatMessage]
    ) -> None:
        until = timezone.now() + timedelta(hours=1)
        users = set(queryset.values_list("user_id", flat=True))
        for user_id in users:
            chat.mute(user_id, until, reason=f"muted by {request.user}")
        self.message_user(request, f"{len(users)} user(s) muted", messages.SUCCESS)


@admin.register(Mute)
class MuteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "until", "reason", "created_at")
    raw_id_fields = ("user",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "user", "kind", "created", "read")
    list_filter = ("kind", "read")
    raw_id_fields = ("user",)


@admin.register(Presence)
class PresenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("channel_name", "user", "expires_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MatchPlayerInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MatchPlayer
    extra = 0
    raw_id_fields = ("user",)


@admin.register(MatchResult)
class MatchResultAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "room", "ended_at", "duration_s")
    search_fields = ("room",)
    inlines = [MatchPlayerInline]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "kind", "status", "attempts", "created_at", "due_at", "done_at")
    list_filter = ("status", "kind")
    readonly_fields = ("kind", "payload", "status", "attempts", "created_at", "due_at", "sent_at",
                       "claim", "claimed_until", "done_at", "last_error")
    actions = ["retry_dead"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry (dead tasks)")
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        changed = outbox.retry(queryset.values_list("pk", flat=True))
        self.message_user(
            request, f"{len(changed)} dead task(s) queued again; workers pick them up at their "
            "next sweep", messages.SUCCESS,
        )


@admin.register(PlayerStats)
class PlayerStatsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "game", "rating", "mu", "sigma", "matches", "wins", "kills")
    list_filter = ("game",)
    raw_id_fields = ("user",)
    search_fields = ("user__display_name",)
