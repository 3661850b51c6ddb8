package agent

import (
	"testing"
)

func mustProcessor(t *testing.T, o ProcessingOption) processor {
	t.Helper()
	p, err := newProcessor(o, "")
	if err != nil {
		t.Fatalf("newProcessor(%+v) = %v", o, err)
	}
	return p
}

func TestProcessingOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  ProcessingOption
		in   string
		want string // "" with filtered
		drop bool
	}{
		{"singleline", ProcessingOption{OptionName: OptionSingleLine}, "  first line  \n\tat a.b(C.java:1)\n   at d\n", "first lineat a.b(C.java:1)at d\n", false},
		{"singleline no newline", ProcessingOption{OptionName: OptionSingleLine}, "x", "x\n", false},
		{"csv", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"f1", "f2"}}, "v1,v2\n", `{"f1":"v1","f2":"v2"}` + "\n", false},
		{"csv missing column", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b", "c"}}, "1,2\n", `{"a":"1","b":"2","c":null}` + "\n", false},
		{"csv extra column", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a"}}, "1,2\n", `{"a":"1"}` + "\n", false},
		{"csv delimiter", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b"}, Delimiter: `\|\|`}, "x<y||\"q\"\n", `{"a":"x<y","b":"\"q\""}` + "\n", false},
		// The delimiter is a Java regular expression: "\\|" in agent.json is a literal |.
		{"csv java pipe", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b", "c"}, Delimiter: `\|`}, "1|2|3\n", `{"a":"1","b":"2","c":"3"}` + "\n", false},
		{"csv java regex", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b", "c"}, Delimiter: `\s*;\s*`}, "1 ; 2;3\n", `{"a":"1","b":"2","c":"3"}` + "\n", false},
		// Java's String.split: trailing empty columns are dropped (null), leading ones kept.
		{"csv java split", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b", "c"}}, ",x,\n", `{"a":"","b":"x","c":null}` + "\n", false},
		// An unescaped | matches the empty string: Java splits between every character.
		{"csv bare pipe", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b", "c"}, Delimiter: "|"}, "ab|\n", `{"a":"a","b":"b","c":"|"}` + "\n", false},
		{"csv tab", ProcessingOption{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b"}, Delimiter: `\t`}, "1\t2\n", `{"a":"1","b":"2"}` + "\n", false},
		{"common apache",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatCommonApache},
			`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326` + "\n",
			`{"host":"127.0.0.1","ident":null,"authuser":"frank","datetime":"10/Oct/2000:13:55:36 -0700","request":"GET /apache_pb.gif HTTP/1.0","response":"200","bytes":"2326"}` + "\n", false},
		{"combined apache",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatCombinedApache},
			`10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 304 - "http://example.com/" "Mozilla/5.0 (X11)"` + "\n",
			`{"host":"10.0.0.2","ident":null,"authuser":null,"datetime":"10/Oct/2000:13:55:36 -0700","request":"GET / HTTP/1.1","response":"304","bytes":null,"referer":"http://example.com/","agent":"Mozilla/5.0 (X11)"}` + "\n", false},
		{"apache custom names",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatCommonApache, CustomFieldNames: []string{"h", "i", "u", "t", "r", "s", "b"}},
			`h - u [t] "r" 1 2` + "\n",
			`{"h":"h","i":null,"u":"u","t":"t","r":"r","s":"1","b":"2"}` + "\n", false},
		{"apache error",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatApacheError},
			`[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist: /favicon.ico` + "\n",
			`{"timestamp":"Fri Sep 09 10:42:29.902022 2011","module":"core","severity":"error","processid":"35708","threadid":"4328636416","client":"72.15.99.187","message":"File does not exist: /favicon.ico"}` + "\n", false},
		{"syslog",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatSyslog},
			"Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages in 'ximian-red-carpet|351' (0.01878 seconds)\n",
			`{"timestamp":"Mar 12 12:00:08","hostname":"server2","program":"rcd","processid":"308","message":"Loaded 12 packages in 'ximian-red-carpet|351' (0.01878 seconds)"}` + "\n", false},
		{"syslog without pid",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatSyslog},
			"Mar  2 01:02:03 host kernel: boot\n",
			`{"timestamp":"Mar  2 01:02:03","hostname":"host","program":"kernel","processid":null,"message":"boot"}` + "\n", false},
		{"rfc3339 syslog",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatRFC3339Syslog},
			"2024-03-12T12:00:08.123+01:00 web-1 sshd[99]: Accepted publickey\n",
			`{"timestamp":"2024-03-12T12:00:08.123+01:00","hostname":"web-1","program":"sshd","processid":"99","message":"Accepted publickey"}` + "\n", false},
		{"syslog no match", ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatSyslog}, "garbage line\n", "", true},
		{"match pattern",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatSyslog, MatchPattern: `(\w+)=(\d+)`, CustomFieldNames: []string{"key", "value"}},
			"load=42\n", `{"key":"load","value":"42"}` + "\n", false},
		{"match pattern is anchored",
			ProcessingOption{OptionName: OptionLogToJSON, LogFormat: LogFormatSyslog, MatchPattern: `(\w+)=(\d+)`, CustomFieldNames: []string{"key", "value"}},
			"x load=42 y\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := mustProcessor(t, tt.opt).process([]byte(tt.in))
			if ok == tt.drop {
				t.Fatalf("process(%q) kept = %v, want %v (output %q)", tt.in, ok, !tt.drop, got)
			}
			if !tt.drop && string(got) != tt.want {
				t.Errorf("process(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}
