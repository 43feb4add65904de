package raftctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	OutputText = ""
	OutputJSON = "json"
	OutputYAML = "yaml"
)

// Render writes the report in format (OutputText, OutputJSON or OutputYAML).
func Render(w io.Writer, r *Report, format string, now time.Time) error {
	switch format {
	case OutputText:
		return RenderText(w, r, now)
	case OutputJSON:
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case OutputYAML:
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q (want json or yaml)", format)
}

// RenderText writes the one-screen view: summary, joint state, operation,
// member table (the leader marked with *), unreachable members, conditions,
// recent events.
func RenderText(w io.Writer, r *Report, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("Cluster:\t%s/%s\n", r.Namespace, r.Name)
	p("Phase:\t%s\n", r.Phase)
	p("Leader:\t%s\n", orNone(r.Leader, "none (no member says it leads)"))
	if r.Term > 0 {
		p("Term:\t%d\n", r.Term)
	}
	p("Version:\t%s\n", orNone(r.Version, "mixed or unknown"))
	p("Failure tolerance:\t%d\n", r.FailureTolerance)
	if r.PDBAllowedDisruptions != nil {
		p("PDB allowed disruptions:\t%d\n", *r.PDBAllowedDisruptions)
	} else {
		p("PDB allowed disruptions:\tno PodDisruptionBudget\n")
	}
	p("Learners:\t%s\n", orNone(strings.Join(r.Learners, ", "), "none"))
	if r.Joint != nil {
		p("Joint:\tyes: outgoing voters [%s], incoming voters [%s]\n", strings.Join(r.Joint.Outgoing, " "), strings.Join(r.Joint.Incoming, " "))
	} else {
		p("Joint:\tno\n")
	}
	if op := r.Operation; op != nil {
		p("Operation:\t%s, step %s, targets [%s], running for %s\n", op.Type, op.Step, strings.Join(op.Targets, " "), op.Elapsed)
	} else {
		p("Operation:\tnone\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sections := []func(io.Writer, *Report, time.Time) error{renderMembers, renderUnreachable, renderCertificates, renderBackup, renderConditions, renderEvents}
	for _, s := range sections {
		if err := s(w, r, now); err != nil {
			return err
		}
	}
	return nil
}

func renderMembers(w io.Writer, r *Report, _ time.Time) error {
	fmt.Fprintf(w, "\nMembers:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tPOD\tID\tROLE\tHEALTHY\tTERM\tCOMMIT\tAPPLIED\tLAG\tVERSION\tNODE\tRESTARTS")
	for _, m := range r.Members {
		mark := " "
		if m.Leader {
			mark = "*"
		}
		healthy := yesNo(m.Healthy)
		if !m.Live {
			// It did not answer now; the other figures of the row are the
			// operator's last observation.
			healthy = "unreachable"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\n", mark, m.Pod, orNone(m.ID, "-"), m.Role,
			healthy, m.Term, m.Commit, m.Applied, m.Lag, orNone(m.Version, "-"), orNone(m.Node, "-"), m.Restarts)
	}
	return tw.Flush()
}

func renderUnreachable(w io.Writer, r *Report, _ time.Time) error {
	if len(r.Unreachable) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nUnreachable members (rows above show the operator's last observation):\n")
	for _, u := range r.Unreachable {
		fmt.Fprintf(w, "  %s: %s\n", u.Pod, u.Error)
	}
	return nil
}

// renderCertificates lists the certificates soonest expiry first; those
// within the CertificatesReady warning window are flagged.
func renderCertificates(w io.Writer, r *Report, _ time.Time) error {
	if len(r.Certificates) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nCertificates (soonest expiry first):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SECRET\tNOT AFTER\tEXPIRES IN\tSTATE")
	for _, c := range r.Certificates {
		notAfter, state := "-", "ok"
		if c.NotAfter != nil {
			notAfter = c.NotAfter.Format(time.RFC3339)
		}
		switch {
		case c.Error != "":
			state = "INVALID: " + c.Error
		case c.Expiring:
			state = "EXPIRING SOON"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Secret, notAfter, orNone(c.ExpiresIn, "-"), state)
	}
	return tw.Flush()
}

func renderBackup(w io.Writer, r *Report, _ time.Time) error {
	b := r.LastBackup
	if r.BackupsError != "" {
		fmt.Fprintf(w, "\nLast backup: unknown (%s)\n", r.BackupsError)
		return nil
	}
	if b == nil {
		fmt.Fprintf(w, "\nLast backup: none\n")
		return nil
	}
	fmt.Fprintf(w, "\nLast backup: %s, %s, %s ago, size %s", b.Name, b.Phase, b.Age, orNone(b.Size, "-"))
	if b.Location != "" {
		fmt.Fprintf(w, ", at %s", b.Location)
	}
	if b.Error != "" {
		fmt.Fprintf(w, ", error: %s", b.Error)
	}
	fmt.Fprintln(w)
	return nil
}

func renderConditions(w io.Writer, r *Report, _ time.Time) error {
	fmt.Fprintf(w, "\nConditions:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tMESSAGE")
	for _, c := range r.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	return tw.Flush()
}

func renderEvents(w io.Writer, r *Report, now time.Time) error {
	if len(r.Events) == 0 {
		fmt.Fprintf(w, "\nEvents: none\n")
		return nil
	}
	fmt.Fprintf(w, "\nEvents (last %d):\n", MaxEvents)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  AGE\tTYPE\tREASON\tMESSAGE")
	for _, e := range r.Events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", now.Sub(e.Time).Round(time.Second), e.Type, e.Reason, e.Message)
	}
	return tw.Flush()
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
