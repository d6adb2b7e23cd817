#!/usr/bin/python3
"""Prints camera events as they arrive. PYTHONPATH=clients/python /usr/bin/python3 subscriber.py"""
import udsbus

bus = udsbus.connect(name="event-printer")  # $UDSBUS_SOCKET, else the default path
with bus.subscribe("camera.event.>") as events:
    for m in events:
        print(m.topic, m.value, flush=True)
