// Command go-publisher publishes one motion event (SCHEMAS.md camera.event.<cameraId>.motion).
//
//	UDSBUS_SOCKET=/tmp/bus.sock go run . front-door
package main

import (
	"context"
	"log"
	"os"
	"time"

	udsbus "github.com/udsbus/udsbus/clients/go"
)

func main() {
	cameraID := "front-door"
	if len(os.Args) > 1 {
		cameraID = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bus, err := udsbus.Connect(ctx, udsbus.Options{Name: "motion-publisher"}) // $UDSBUS_SOCKET or the default path
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	now := time.Now().UTC() // time.Time is sent as RFC 3339 text
	event := map[string]any{
		"v": 1, "cameraId": cameraID, "kind": "motion", "time": now, "receivedAt": now,
		"operation": "changed", "initial": false, "onvifTopic": "tns1:RuleEngine/CellMotionDetector/Motion",
		"source": map[string]any{"Rule": "MyMotionDetectorRule"}, "data": map[string]any{"IsMotion": true}, "active": true,
	}
	// PublishSync waits for the broker's ok, so a bad topic fails here rather than in a log.
	if err := bus.PublishSync(ctx, "camera.event."+cameraID+".motion", event); err != nil {
		log.Fatal(err)
	}
}
