#!/usr/bin/env bash
# Virtual audio devices for tests and CI: a PulseAudio daemon with two null sinks.
#   vt_sink          the speaker: the program plays here; tests record vt_sink.monitor
#   vt_mic           the microphone's far end: tests play answers here (paplay --device=vt_mic);
#   vt_mic.monitor   is the default source, so the program's microphone hears them
# PortAudio reaches it through ALSA's `pulse`/`default` devices (Debian: libasound2-plugins).
# Idempotent: a second run finds the daemon running and only re-checks it. Works as root (a
# user daemon with --system=false; PulseAudio warns but runs). Prints the device names.
set -euo pipefail

for tool in pulseaudio pactl; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "audio_server: '$tool' is missing (Debian: pulseaudio pulseaudio-utils libasound2-plugins)" >&2
    exit 1
  }
done

if ! pactl info >/dev/null 2>&1; then
  pulseaudio -D --system=false --exit-idle-time=-1 -n \
    --load="module-null-sink sink_name=vt_sink sink_properties=device.description=vt_sink" \
    --load="module-null-sink sink_name=vt_mic sink_properties=device.description=vt_mic" \
    --load=module-native-protocol-unix \
    --log-target=stderr 2>/dev/null || true
  for _ in $(seq 1 50); do
    pactl info >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
if ! pactl info >/dev/null 2>&1; then
  echo "audio_server: PulseAudio did not start (try: pulseaudio -vv --system=false -n)" >&2
  exit 1
fi

# A server started some other way may lack our sinks: add what is missing.
sinks=$(pactl list short sinks)
for s in vt_sink vt_mic; do
  grep -q "[[:space:]]$s[[:space:]]" <<<"$sinks" ||
    pactl load-module module-null-sink "sink_name=$s" "sink_properties=device.description=$s" >/dev/null
done
pactl set-default-sink vt_sink
pactl set-default-source vt_mic.monitor

# A null sink with no stream on it idles with a 2 s block: the first sound of a new stream can
# then wait up to 2 s, which no sound card does. A silent low-latency stream keeps each sink
# running like a card. (Started once; found again by its client name.)
for s in vt_sink vt_mic; do
  if ! pactl list sink-inputs 2>/dev/null | grep -q "application.name = \"vt_keepalive_$s\""; then
    setsid nohup pacat --playback "--device=$s" --latency-msec=10 --rate=16000 --channels=1 \
      --format=s16le "--client-name=vt_keepalive_$s" </dev/zero >/dev/null 2>&1 &
  fi
done

echo "audio_server: PulseAudio is running ($(pactl info | sed -n 's/^Server String: //p'))"
echo "audio_server: speaker = vt_sink (record it from vt_sink.monitor)"
echo "audio_server: microphone = vt_mic.monitor (play answers with: paplay --device=vt_mic FILE.wav)"
if command -v python3 >/dev/null 2>&1; then
  python3 - <<'EOF' || true
try:
    import sounddevice as sd
    names = [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices())]
    print("audio_server: PortAudio devices: " + ", ".join(names))
except Exception as exc:
    print(f"audio_server: PortAudio cannot see the server: {exc}")
EOF
fi
