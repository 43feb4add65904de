package limits

import "testing"

func TestWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Limits
		want Limits
	}{
		{name: "zero gets etcd's defaults", in: Limits{}, want: Limits{MaxRequestBytes: 1536 * 1024, MaxTxnOps: 128}},
		{name: "set fields are kept", in: Limits{MaxRequestBytes: 10, MaxTxnOps: 3}, want: Limits{MaxRequestBytes: 10, MaxTxnOps: 3}},
		{name: "one field set", in: Limits{MaxTxnOps: 7}, want: Limits{MaxRequestBytes: 1536 * 1024, MaxTxnOps: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := (Limits{}).Validate(); err != nil {
		t.Errorf("zero limits: %v", err)
	}
	for _, l := range []Limits{{MaxRequestBytes: -1}, {MaxTxnOps: -1}, {MaxRequestBytes: MaxRequestBytesCeiling + 1}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v: no error", l)
		}
	}
}
