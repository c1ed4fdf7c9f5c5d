package cmdline

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"livevote/shared/buildinfo"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantLine Line
		wantOut  string // a prefix of what is printed
		wantErr  string // a part of the error; "" for none
	}{
		{"tests call run with nil", nil, Line{}, "", ""},
		{"no arguments runs the service", []string{"/vote"}, Line{}, "", ""},
		{"version", []string{"/vote", "-version"}, Line{Done: true}, "vote " + buildinfo.Get().Version + " (revision ", ""},
		{"version, two dashes", []string{"/vote", "--version"}, Line{Done: true}, "vote ", ""},
		{"help", []string{"/vote", "-h"}, Line{Done: true}, "usage: vote [-version] [healthcheck | migrate]", ""},
		{"subcommand", []string{"/vote", "healthcheck"}, Line{Subcommand: "healthcheck", Args: []string{}}, "", ""},
		{"subcommand's own flags", []string{"/vote", "healthcheck", "-ready", "-timeout", "1s"},
			Line{Subcommand: "healthcheck", Args: []string{"-ready", "-timeout", "1s"}}, "", ""},
		{"unknown subcommand", []string{"/vote", "serve"}, Line{}, "", `unknown arguments ["serve"]; usage: vote`},
		{"unknown flag", []string{"/vote", "-verbose"}, Line{}, "", "flag provided but not defined: -verbose; usage: vote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			got, err := Parse("vote", tt.args, &out, "healthcheck", "migrate")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			if got.Subcommand != tt.wantLine.Subcommand || got.Done != tt.wantLine.Done || !slices.Equal(got.Args, tt.wantLine.Args) {
				t.Errorf("got %+v, want %+v", got, tt.wantLine)
			}
			if !strings.HasPrefix(out.String(), tt.wantOut) || (tt.wantOut == "") != (out.Len() == 0) {
				t.Errorf("printed %q, want it to start with %q", out.String(), tt.wantOut)
			}
		})
	}
}
