//! Template engine tests; expected strings are what Go's `text/template`
//! (with Docker's function map) produces for the same input.

use super::*;
use serde_json::{json, Value};

fn run(src: &str, data: &Value) -> String {
    Template::parse(src)
        .unwrap_or_else(|e| panic!("parse {src:?}: {e}"))
        .execute(data)
        .unwrap_or_else(|e| panic!("exec {src:?}: {e}"))
}

fn parse_err(src: &str) -> String {
    match Template::parse(src) {
        Ok(_) => panic!("expected parse error for {src:?}"),
        Err(e) => {
            assert_eq!(e.kind(), TemplateErrorKind::Parse);
            e.to_string()
        }
    }
}

fn exec_err(src: &str, data: &Value) -> String {
    match Template::parse(src).unwrap().execute(data) {
        Ok(out) => panic!("expected exec error for {src:?}, got {out:?}"),
        Err(e) => {
            assert_eq!(e.kind(), TemplateErrorKind::Exec);
            e.to_string()
        }
    }
}

fn image() -> Value {
    json!({
        "ID": "sha256:abc",
        "Repository": "<none>",
        "Tag": "latest",
        "Size": 72900000,
        "Labels": {"maintainer": "me", "a.b": "dots"},
        "RepoTags": ["busybox:latest", "busybox:1.36"],
        "Config": {"Env": ["PATH=/bin", "HOME=/root"], "Cmd": null, "User": ""},
        "Empty": [],
        "Ratio": 0.5,
        "Flag": true
    })
}

#[test]
fn text_and_fields() {
    let d = image();
    assert_eq!(run("plain text", &d), "plain text");
    assert_eq!(run("{{.Tag}}", &d), "latest");
    assert_eq!(run("{{.Config.User}}|", &d), "|");
    assert_eq!(run("{{.Size}}", &d), "72900000");
    assert_eq!(run("{{.Ratio}}", &d), "0.5");
    assert_eq!(run("{{.Flag}}", &d), "true");
    assert_eq!(run("{{ .Tag }}", &d), "latest");
    assert_eq!(run("{{.Repository}}", &d), "<none>");
}

#[test]
fn printing_composites_like_go() {
    let d = image();
    assert_eq!(run("{{.RepoTags}}", &d), "[busybox:latest busybox:1.36]");
    assert_eq!(run("{{.Labels}}", &d), "map[a.b:dots maintainer:me]");
    assert_eq!(run("{{.Empty}}", &d), "[]");
    assert_eq!(
        run("{{.}}", &json!({"b": 1, "a": [1.5, "x"]})),
        "map[a:[1.5 x] b:1]"
    );
}

#[test]
fn missing_and_nil() {
    let d = image();
    assert_eq!(run("{{.Nope}}", &d), "<no value>");
    assert_eq!(run("{{.Nope.Deeper}}", &d), "<no value>");
    assert_eq!(run("{{.Config.Cmd}}", &d), "<no value>");
    assert_eq!(run("{{index .Labels \"nope\"}}", &d), "<no value>");
    assert_eq!(run("{{printf \"%v\" .Nope}}", &d), "<nil>");
    assert_eq!(run("{{printf \"%s\" .Config.Cmd}}", &d), "%!s(<nil>)");
    assert_eq!(run("{{.X}}", &Value::Null), "<no value>");
    assert_eq!(
        exec_err("{{.Config.Cmd.X}}", &d),
        "template parsing error: template: :1:9: executing \"\" at <.Config.Cmd.X>: nil pointer evaluating interface {}.X"
    );
    assert_eq!(
        exec_err("{{with .Tag}}{{.X}}{{end}}", &d),
        "template parsing error: template: :1:15: executing \"\" at <.X>: can't evaluate field X in type string"
    );
    assert_eq!(
        exec_err("{{.Tag.X}}", &d),
        "template parsing error: template: :1:6: executing \"\" at <.Tag.X>: can't evaluate field X in type interface {}"
    );
}

#[test]
fn index_function() {
    let d = image();
    assert_eq!(run("{{index .Labels \"maintainer\"}}", &d), "me");
    assert_eq!(run("{{index .Labels \"a.b\"}}", &d), "dots");
    assert_eq!(run("{{index .RepoTags 1}}", &d), "busybox:1.36");
    assert_eq!(run("{{index .Config.Env 0}}", &d), "PATH=/bin");
    assert_eq!(run("{{index . \"Config\" \"Env\" 1}}", &d), "HOME=/root");
    assert_eq!(run("{{(index .RepoTags 0)}}", &d), "busybox:latest");
    assert_eq!(
        exec_err("{{index .RepoTags 5}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <index .RepoTags 5>: error calling index: index out of range: 5"
    );
    assert_eq!(
        exec_err("{{index .RepoTags \"x\"}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <index .RepoTags \"x\">: error calling index: cannot index slice/array with type string"
    );
}

#[test]
fn chains_on_parenthesised_pipelines() {
    let d = json!({"Ports": {"80/tcp": [{"HostPort": "8080"}]}});
    assert_eq!(
        run("{{(index (index .Ports \"80/tcp\") 0).HostPort}}", &d),
        "8080"
    );
    assert_eq!(
        run(
            "{{range $p, $conf := .Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}",
            &d
        ),
        "80/tcp -> 8080"
    );
}

#[test]
fn conditionals() {
    let d = image();
    assert_eq!(run("{{if .Flag}}yes{{else}}no{{end}}", &d), "yes");
    assert_eq!(run("{{if .Empty}}yes{{else}}no{{end}}", &d), "no");
    assert_eq!(run("{{if .Nope}}yes{{else}}no{{end}}", &d), "no");
    assert_eq!(
        run("{{if .Config.User}}u{{else if .Flag}}f{{else}}n{{end}}", &d),
        "f"
    );
    assert_eq!(
        run(
            "{{if eq .Tag \"x\"}}1{{else if eq .Tag \"latest\"}}2{{else}}3{{end}}",
            &d
        ),
        "2"
    );
    assert_eq!(
        run(
            "{{if 0}}a{{else}}b{{end}}{{if 0.0}}a{{else}}b{{end}}{{if \"\"}}a{{end}}",
            &d
        ),
        "bb"
    );
    assert_eq!(run("{{with .Labels}}{{.maintainer}}{{end}}", &d), "me");
    assert_eq!(run("{{with .Nope}}x{{else}}none{{end}}", &d), "none");
    assert_eq!(
        run("{{with .Nope}}x{{else with .Tag}}{{.}}{{end}}", &d),
        "latest"
    );
}

#[test]
fn ranges() {
    let d = image();
    assert_eq!(
        run("{{range .RepoTags}}[{{.}}]{{end}}", &d),
        "[busybox:latest][busybox:1.36]"
    );
    assert_eq!(
        run("{{range $i, $e := .RepoTags}}{{$i}}={{$e}} {{end}}", &d),
        "0=busybox:latest 1=busybox:1.36 "
    );
    assert_eq!(
        run("{{range $e := .RepoTags}}{{$e}};{{end}}", &d),
        "busybox:latest;busybox:1.36;"
    );
    assert_eq!(
        run("{{range $k, $v := .Labels}}{{$k}}={{$v}},{{end}}", &d),
        "a.b=dots,maintainer=me,"
    );
    assert_eq!(run("{{range .Labels}}{{.}} {{end}}", &d), "dots me ");
    assert_eq!(run("{{range .Empty}}x{{else}}empty{{end}}", &d), "empty");
    assert_eq!(run("{{range .Nope}}x{{else}}none{{end}}", &d), "none");
    assert_eq!(run("{{range 3}}{{.}}{{end}}", &d), "012");
    assert_eq!(
        run(
            "{{range .RepoTags}}{{if eq . \"busybox:1.36\"}}{{break}}{{end}}{{.}}{{end}}",
            &d
        ),
        "busybox:latest"
    );
    assert_eq!(
        run(
            "{{range .RepoTags}}{{if eq . \"busybox:latest\"}}{{continue}}{{end}}{{.}}{{end}}",
            &d
        ),
        "busybox:1.36"
    );
    assert_eq!(
        run("{{range .RepoTags}}{{$.Tag}} {{end}}", &d),
        "latest latest "
    );
    assert_eq!(
        exec_err("{{range .Tag}}{{end}}", &d),
        "template parsing error: template: :1:8: executing \"\" at <.Tag>: range can't iterate over latest"
    );
}

#[test]
fn variables() {
    let d = image();
    assert_eq!(run("{{$x := .Tag}}{{$x}}", &d), "latest");
    assert_eq!(
        run("{{$x := 1}}{{if .Flag}}{{$x = 2}}{{end}}{{$x}}", &d),
        "2"
    );
    assert_eq!(run("{{$t := .Config}}{{$t.User}}|{{len $t.Env}}", &d), "|2");
    assert_eq!(run("{{with .Labels}}{{$.Tag}}{{end}}", &d), "latest");
    assert!(parse_err("{{$x}}").ends_with("undefined variable \"$x\""));
    assert!(parse_err("{{if true}}{{$y := 1}}{{end}}{{$y}}").ends_with("undefined variable \"$y\""));
}

#[test]
fn pipelines_and_functions() {
    let d = image();
    assert_eq!(run("{{.Tag | upper}}", &d), "LATEST");
    assert_eq!(run("{{.Tag | printf \"%s!\"}}", &d), "latest!");
    assert_eq!(run("{{.Tag | printf \"%-10s|\"}}", &d), "latest    |");
    assert_eq!(
        run("{{printf \"%d items\" (len .RepoTags)}}", &d),
        "2 items"
    );
    assert_eq!(run("{{len .Tag}}", &d), "6");
    assert_eq!(run("{{lower \"ABC\"}}{{upper \"abc\"}}", &d), "abcABC");
    assert_eq!(
        run("{{title \"hello wide-world_x\"}}", &d),
        "Hello Wide-World_x"
    );
    assert_eq!(run("{{split \"a:b:c\" \":\"}}", &d), "[a b c]");
    assert_eq!(
        run("{{join .RepoTags \", \"}}", &d),
        "busybox:latest, busybox:1.36"
    );
    assert_eq!(run("{{join (split \"a:b\" \":\") \"-\"}}", &d), "a-b");
    assert_eq!(run("{{pad .Tag 2 3}}|", &d), "  latest   |");
    assert_eq!(run("{{pad \"\" 2 3}}|", &d), "|");
    assert_eq!(run("{{truncate .Tag 3}}", &d), "lat");
    assert_eq!(run("{{truncate .Tag 30}}", &d), "latest");
    assert_eq!(run("{{truncate \"日本語です\" 2}}", &d), "日本");
    assert_eq!(run("{{print 1 2 \"a\" 3}}", &d), "1 2a3");
    assert_eq!(run("{{println \"a\" 1}}", &d), "a 1\n");
    assert_eq!(
        run("{{printf \"%q %t %5.2f %x\" \"q\" true 3.14159 255}}", &d),
        "\"q\" true  3.14 ff"
    );
    assert_eq!(
        run("{{printf \"%v\" .Labels}}", &d),
        "map[a.b:dots maintainer:me]"
    );
    assert_eq!(
        run("{{html \"<a href='x'>&</a>\"}}", &d),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(run("{{urlquery \"a b&c\"}}", &d), "a+b%26c");
    assert_eq!(run("{{slice .Tag 1 3}}", &d), "at");
    assert_eq!(run("{{slice .RepoTags 1}}", &d), "[busybox:1.36]");
}

#[test]
fn comparisons_and_logic() {
    let d = image();
    assert_eq!(
        run("{{eq .Tag \"latest\"}} {{ne .Tag \"latest\"}}", &d),
        "true false"
    );
    assert_eq!(run("{{eq .Tag \"a\" \"b\" \"latest\"}}", &d), "true");
    assert_eq!(
        run("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 2 3}}", &d),
        "true true false false"
    );
    assert_eq!(run("{{lt \"a\" \"b\"}} {{gt 1.5 1.25}}", &d), "true true");
    assert_eq!(run("{{gt .Size 1000000}}", &d), "true");
    assert_eq!(run("{{eq .Nope \"x\"}}", &d), "false");
    assert_eq!(
        run(
            "{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 \"\"}}",
            &d
        ),
        "0 2 x "
    );
    assert_eq!(run("{{not .Flag}} {{not .Nope}}", &d), "false true");
    assert_eq!(
        run("{{if and .Flag (eq .Tag \"latest\")}}ok{{end}}", &d),
        "ok"
    );
    assert_eq!(run("{{or .Nope \"default\"}}", &d), "default");
    assert_eq!(
        exec_err("{{eq .Size \"x\"}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <eq .Size \"x\">: error calling eq: incompatible types for comparison"
    );
    assert_eq!(
        exec_err("{{lt .Flag true}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <lt .Flag true>: error calling lt: invalid type for comparison"
    );
}

#[test]
fn json_function() {
    let d = image();
    assert_eq!(run("{{json .Repository}}", &d), "\"<none>\"");
    assert_eq!(
        run("{{json .RepoTags}}", &d),
        "[\"busybox:latest\",\"busybox:1.36\"]"
    );
    assert_eq!(
        run("{{json .Config}}", &d),
        "{\"Env\":[\"PATH=/bin\",\"HOME=/root\"],\"Cmd\":null,\"User\":\"\"}"
    );
    assert_eq!(run("{{json .Nope}}", &d), "null");
    assert_eq!(run("{{json .Size}} {{json .Ratio}}", &d), "72900000 0.5");
    assert_eq!(run("{{.Config | json}}", &d), run("{{json .Config}}", &d));
}

#[test]
fn trim_markers_and_comments() {
    let d = image();
    assert_eq!(run("a  {{- .Tag -}}  b", &d), "alatestb");
    assert_eq!(
        run("{{range .RepoTags -}}\n  {{.}}\n{{- end}}", &d),
        "busybox:latestbusybox:1.36"
    );
    assert_eq!(run("x{{/* comment */}}y", &d), "xy");
    assert_eq!(run("x {{- /* comment */ -}} y", &d), "xy");
    assert_eq!(run("{{-3}}", &d), "-3");
}

#[test]
fn literals() {
    let d = json!({});
    assert_eq!(run("{{\"a\\tb\"}}", &d), "a\tb");
    assert_eq!(run("{{`raw\\n`}}", &d), "raw\\n");
    assert_eq!(run("{{'a'}}", &d), "97");
    assert_eq!(
        run("{{1.50}} {{0x1F}} {{1e3}} {{true}}", &d),
        "1.5 31 1000 true"
    );
    assert_eq!(run("{{print nil}}", &d), "<nil>");
}

#[test]
fn define_and_template() {
    let d = image();
    assert_eq!(
        run("{{define \"t\"}}[{{.}}]{{end}}{{template \"t\" .Tag}}", &d),
        "[latest]"
    );
    assert_eq!(run("{{block \"b\" .Tag}}<{{.}}>{{end}}", &d), "<latest>");
    assert_eq!(
        exec_err("{{template \"nope\"}}", &d),
        "template parsing error: template: :1:11: executing \"\" at <{{template \"nope\"}}>: template \"nope\" not defined"
    );
}

#[test]
fn parse_errors_like_go() {
    assert_eq!(
        parse_err("{{.Foo"),
        "template parsing error: template: :1: unclosed action"
    );
    assert_eq!(
        parse_err("{{foo}}"),
        "template parsing error: template: :1: function \"foo\" not defined"
    );
    assert_eq!(
        parse_err("{{end}}"),
        "template parsing error: template: :1: unexpected {{end}}"
    );
    assert_eq!(
        parse_err("{{else}}"),
        "template parsing error: template: :1: unexpected {{else}}"
    );
    assert_eq!(
        parse_err("{{if .X}}a"),
        "template parsing error: template: :1: unexpected EOF"
    );
    assert_eq!(
        parse_err("{{}}"),
        "template parsing error: template: :1: missing value for command"
    );
    assert_eq!(
        parse_err("{{range}}{{end}}"),
        "template parsing error: template: :1: missing value for range"
    );
    assert_eq!(
        parse_err("{{\"abc}}"),
        "template parsing error: template: :1: unterminated quoted string"
    );
    assert_eq!(
        parse_err("{{.X}"),
        "template parsing error: template: :1: bad character U+007D '}'"
    );
    assert_eq!(
        parse_err("{{.X !}}"),
        "template parsing error: template: :1: unexpected \"!\" in operand"
    );
    assert_eq!(
        parse_err("{{break}}"),
        "template parsing error: template: :1: {{break}} outside {{range}}"
    );
    assert_eq!(
        parse_err("{{.X | 3}}"),
        "template parsing error: template: :1: non executable command in pipeline stage 2"
    );
    assert_eq!(
        parse_err("{{3x}}"),
        "template parsing error: template: :1: bad number syntax: \"3x\""
    );
    assert_eq!(
        parse_err("{{\"a\".X}}"),
        "template parsing error: template: :1: unexpected . after term \"\\\"a\\\"\""
    );
    assert_eq!(
        parse_err("line1\n{{.X\n}}\n{{foo}}"),
        "template parsing error: template: :4: function \"foo\" not defined"
    );
    assert_eq!(
        parse_err("{{range $a, $b, $c := .}}{{end}}"),
        "template parsing error: template: :1: too many declarations in range"
    );
    assert_eq!(
        parse_err("{{if .X}}{{else}}{{else}}{{end}}"),
        "template parsing error: template: :1: expected end; found {{else}}"
    );
    let e = Template::parse("{{foo}}").unwrap_err();
    assert_eq!(e.go_message(), "template: :1: function \"foo\" not defined");
}

#[test]
fn exec_errors_like_go() {
    let d = image();
    assert_eq!(
        exec_err("{{len .Size}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <len .Size>: error calling len: len of type int"
    );
    assert_eq!(
        exec_err("{{upper .Size}}", &d),
        "template parsing error: template: :1:8: executing \"\" at <.Size>: wrong type for value; expected string; got int"
    );
    assert_eq!(
        exec_err("{{.Tag 1}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <.Tag>: Tag is not a method but has arguments"
    );
    assert_eq!(
        exec_err("x\n {{len}}", &d),
        "template parsing error: template: :2:3: executing \"\" at <len>: wrong number of args for len: want 1 got 0"
    );
    assert_eq!(
        exec_err("{{\"a\" 1}}", &d),
        "template parsing error: template: :1:2: executing \"\" at <\"a\">: can't give argument to non-function \"a\""
    );
    assert_eq!(
        exec_err("{{truncate .Tag 2.5}}", &d),
        "template parsing error: template: :1:16: executing \"\" at <2.5>: expected integer; found 2.5"
    );
}

#[test]
fn header_mode_functions_keep_text() {
    let t = Template::parse("{{.Tag | upper}} {{json .ID}} {{truncate .Tag 2}} {{pad .Tag 1 1}}")
        .unwrap();
    let headers = json!({"Tag": "TAG", "ID": "IMAGE ID"});
    let opts = ExecOpts {
        mode: FuncMode::Header,
        context_root: None,
        context_type: None,
    };
    let (out, err) = t.execute_with(&headers, &opts);
    assert!(err.is_none());
    assert_eq!(out, "TAG IMAGE ID TAG  TAG ");
}

#[test]
fn context_root_json_is_sorted_and_html_escaped() {
    let row = json!({"Tag": "<none>", "ID": "abc"});
    let t = Template::parse("{{json .}}|{{json .Tag}}").unwrap();
    let opts = ExecOpts {
        mode: FuncMode::Normal,
        context_root: Some(&row),
        context_type: None,
    };
    let (out, err) = t.execute_with(&row, &opts);
    assert!(err.is_none());
    assert_eq!(
        out,
        "{\"ID\":\"abc\",\"Tag\":\"\\u003cnone\\u003e\"}|\"<none>\""
    );
}

#[test]
fn partial_output_kept_on_error() {
    let t = Template::parse("a{{.X.Y.Z}}b").unwrap();
    let (out, err) = t.execute_with(&json!({"X": 1}), &ExecOpts::default());
    assert_eq!(out, "a");
    assert!(err.is_some());
}
