"""The lobby: accounts and guests, chat, notifications, presence, rooms list, matchmaking."""
