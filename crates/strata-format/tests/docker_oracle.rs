//! Differential cases: each expected string is what Docker CLI 28.2.2 go1.24.3's
//! Go `text/template` produced for the same template (captured by running
//! `docker version --format` for data-independent templates and
//! `docker network inspect bridge --format` on the JSON below, where Docker
//! executes with `missingkey=error` on the raw JSON). Error texts are
//! normalised to an unnamed template, as Docker names it for `inspect`.

use serde_json::Value;
use strata_format::{MissingKey, Template, TemplateErrorKind};

const BRIDGE: &str = r#"{"Name": "bridge", "Id": "bd2adaf19c821f6db2b2fd6ffc065e6e4292e95ef9c9979a243d35f7c834e83e", "Created": "2026-11-28T21:57:43.565025789Z", "Scope": "local", "Driver": "bridge", "EnableIPv6": false, "IPAM": {"Driver": "default", "Options": null, "Config": [{"Subnet": "172.17.0.0/16"}]}, "Internal": false, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""}, "ConfigOnly": false, "Containers": {}, "Options": {"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true", "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0", "com.docker.network.bridge.name": "docker0", "com.docker.network.driver.mtu": "1400"}, "Labels": {}}"#;

enum Want {
    Ok(&'static str),
    Parse(&'static str),
    Exec(&'static str),
}

fn check(
    name: &str,
    template: &str,
    data: &Value,
    missing: MissingKey,
    want: &Want,
) -> Option<String> {
    let got = Template::parse(template).and_then(|t| t.missing_key(missing).execute(data));
    let ok = match (want, &got) {
        (Want::Ok(w), Ok(g)) => w == g,
        (Want::Parse(w), Err(e)) => e.kind() == TemplateErrorKind::Parse && e.to_string() == *w,
        // `docker version` prints Go's exec error without Docker's prefix,
        // `docker inspect` with it.
        (Want::Exec(w), Err(e)) => {
            e.kind() == TemplateErrorKind::Exec && (e.go_message() == *w || e.to_string() == *w)
        }
        _ => false,
    };
    if ok {
        None
    } else {
        let w = match want {
            Want::Ok(s) | Want::Parse(s) | Want::Exec(s) => s,
        };
        Some(format!("{name} {template:?}\n  want {w:?}\n  got  {got:?}"))
    }
}

#[test]
fn data_independent_templates_match_go() {
    let data = Value::Null;
    let missing = MissingKey::Default;
    let cases: &[(&str, Want)] = &[
        (
            r#"{{printf "%5.2f|%x|%q" 3.14159 255 "a\tb"}}"#,
            Want::Ok(r#" 3.14|ff|"a\tb""#),
        ),
        (r#"{{printf "%d %s" 1}}"#, Want::Ok(r#"1 %!s(MISSING)"#)),
        (
            r#"{{printf "%d" 1 2 "x"}}"#,
            Want::Ok(r#"1%!(EXTRA int=2, string=x)"#),
        ),
        (
            r#"{{printf "%v %v %v" 1.0 1e6 0.000012}}"#,
            Want::Ok(r#"1 1e+06 1.2e-05"#),
        ),
        (
            r#"{{printf "%g %e %G %E" 123456789.0 0.5 1e-7 100.0}}"#,
            Want::Ok(r#"1.23456789e+08 5.000000e-01 1E-07 1.000000E+02"#),
        ),
        (
            r#"{{printf "%08.3f|%-8d|%+d|% d|%x|%X|%o|%b|%c|%U|%#U|%#x|%#o" -3.5 42 5 7 "hi" 255 8 5 65 0x1F600 65 255 8}}"#,
            Want::Ok(r#"-003.500|42      |+5| 7|6869|FF|10|101|A|U+1F600|U+0041 'A'|0xff|010"#),
        ),
        (
            r#"{{printf "%10.4s|%-10q|%.0f|%.1f|%.1f" "abcdefg" "x" 2.5 0.25 0.35}}"#,
            Want::Ok(r#"      abcd|"x"       |2|0.2|0.3"#),
        ),
        (
            r#"{{printf "%t %v %s %d" true nil nil nil}}"#,
            Want::Ok(r#"true <nil> %!s(<nil>) %!d(<nil>)"#),
        ),
        (
            r#"{{printf "%5t|%-7v|%05s|%x" false true "ab" -255}}"#,
            Want::Ok(r#"false|true   |000ab|-ff"#),
        ),
        (
            r#"{{printf "%T %T %T %T" 1 1.5 "s" true}}"#,
            Want::Ok(r#"int float64 string bool"#),
        ),
        (
            r#"{{printf "%q %+q %#q" "héllo\x01" "héllo" "back`tick"}}"#,
            Want::Ok(r#""héllo\x01" "h\u00e9llo" "back`tick""#),
        ),
        (
            r#"{{printf "%6.2v|%.3v|%10v|" 3.14159 "abcdef" 1e21}}"#,
            Want::Ok(r#"   3.1|abc|     1e+21|"#),
        ),
        (
            r#"{{print 1 2 "a" "b" 3 nil 4}}"#,
            Want::Ok(r#"1 2ab3 <nil> 4"#),
        ),
        (
            r#"{{println 1 "a" 2.5}}"#,
            Want::Ok(
                r#"1 a 2.5
"#,
            ),
        ),
        (
            r#"{{print 1e21 1e20 123456.0 1234567.0 0.0001 0.00001 -0.0}}"#,
            Want::Ok(r#"1e+21 1e+20 123456 1.234567e+06 0.0001 1e-05 -0"#),
        ),
        (
            r#"{{len "héllo"}} {{index "abc" 1}} {{slice "abcdef" 1 3}}"#,
            Want::Ok(r#"6 98 bc"#),
        ),
        (
            r#"{{eq 1 1}} {{eq "a" "b" "a"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}}"#,
            Want::Ok(r#"true true true true true true false"#),
        ),
        (
            r#"{{eq 1 1.0}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <eq 1 1.0>: error calling eq: incompatible types for comparison"#,
            ),
        ),
        (
            r#"{{lt 1 1.5}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <lt 1 1.5>: error calling lt: incompatible types for comparison"#,
            ),
        ),
        (
            r#"{{lt true false}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <lt true false>: error calling lt: invalid type for comparison"#,
            ),
        ),
        (
            r#"{{and 1 0 "x"}} {{and 1 "x"}} {{or 0 "" "x"}} {{or 0 ""}} {{not 0}} {{not "a"}}"#,
            Want::Ok(r#"0 x x  true false"#),
        ),
        (
            r#"{{if 0}}a{{else if ""}}b{{else if 1.5}}c{{end}}"#,
            Want::Ok(r#"c"#),
        ),
        (
            r#"{{range $i, $c := split "a,b,c" ","}}{{$i}}{{$c}}{{end}}"#,
            Want::Ok(r#"0a1b2c"#),
        ),
        (r#"{{range 4}}{{.}}{{end}}"#, Want::Ok(r#"0123"#)),
        (r#"{{range $i := 3}}{{$i}}{{end}}"#, Want::Ok(r#"012"#)),
        (
            r#"{{range $i, $j := 3}}{{$i}}{{end}}"#,
            Want::Exec(
                r#"template: :1:18: executing "" at <3>: can't use 3 to iterate over more than one variable"#,
            ),
        ),
        (
            r#"{{range "abc"}}{{.}}{{end}}"#,
            Want::Exec(r#"template: :1:8: executing "" at <"abc">: range can't iterate over abc"#),
        ),
        (
            r#"{{range 1.5}}{{.}}{{end}}"#,
            Want::Exec(r#"template: :1:8: executing "" at <1.5>: range can't iterate over 1.5"#),
        ),
        (
            r#"{{join (split "a:b:c" ":") "-"}} {{title "hello world-foo_bar baz.qux"}} {{upper "abc"}} {{lower "ÀBC"}}"#,
            Want::Ok(r#"a-b-c Hello World-Foo_bar Baz.Qux ABC àbc"#),
        ),
        (
            r#"{{pad "x" 2 3}}| {{pad "" 2 3}}| {{truncate "abcdef" 3}} {{truncate "ab" 3}} {{truncate "abc" 3}}"#,
            Want::Ok(r#"  x   | | abc ab abc"#),
        ),
        (
            r#"{{truncate "abc" -1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <truncate "abc" -1>: error calling truncate: runtime error: slice bounds out of range [:-1]"#,
            ),
        ),
        (
            r#"{{json "<a&b>"}} {{json 1.5}} {{json 1e21}} {{json 0.0000001}} {{json nil}} {{json (split "a,b" ",")}}"#,
            Want::Ok(r#""<a&b>" 1.5 1e+21 1e-7 null ["a","b"]"#),
        ),
        (
            r#"{{html "<a href='x'>&\"</a>"}} {{js "a'b\"c<d>=&\n"}} {{urlquery "a b&c=d/é"}}"#,
            Want::Ok(
                r#"&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt; a\'b\"c\u003Cd\u003E\u003D\u0026\u000A a+b%26c%3Dd%2F%C3%A9"#,
            ),
        ),
        (r#"{{$x := 1}}{{$x = 2}}{{$x}}"#, Want::Ok(r#"2"#)),
        (r#"{{with $x := "v"}}{{$x}}{{.}}{{end}}"#, Want::Ok(r#"vv"#)),
        (
            r#"{{with ""}}a{{else with "b"}}{{.}}{{end}}"#,
            Want::Ok(r#"b"#),
        ),
        (r#"{{- "trim" -}}   "#, Want::Ok(r#"trim"#)),
        (r#"a {{- /* c */ -}} b"#, Want::Ok(r#"ab"#)),
        (
            r#"{{'a'}} {{'\n'}} {{0x10}} {{0o17}} {{0b101}} {{1_000}} {{1e3}} {{.5}} {{-3}} {{+3}}"#,
            Want::Ok(r#"97 10 16 15 5 1000 1000 0.5 -3 3"#),
        ),
        (r#"{{"\u00e9\x41\101"}}"#, Want::Ok(r#"éAA"#)),
        (r#"{{`raw\n`}}"#, Want::Ok(r#"raw\n"#)),
        (
            r#"{{nil}}"#,
            Want::Exec(r#"template: :1:2: executing "" at <nil>: nil is not a command"#),
        ),
        (
            r#"{{1 2}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <1>: can't give argument to non-function 1"#,
            ),
        ),
        (r#"{{"a" | printf "%s%s" "b"}}"#, Want::Ok(r#"ba"#)),
        (r#"{{3 | printf "%d"}}"#, Want::Ok(r#"3"#)),
        (r#"{{printf "%d" | len}}"#, Want::Ok(r#"12"#)),
        (
            r#"{{len 3}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <len 3>: error calling len: len of type int"#,
            ),
        ),
        (
            r#"{{index 1 2}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <index 1 2>: error calling index: can't index item of type int"#,
            ),
        ),
        (
            r#"{{index nil 1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <index nil 1>: error calling index: index of untyped nil"#,
            ),
        ),
        (
            r#"{{slice "abc" 2 1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <slice "abc" 2 1>: error calling slice: invalid slice index: 2 > 1"#,
            ),
        ),
        (
            r#"{{call "x"}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <call "x">: error calling call: non-function "x" of type string"#,
            ),
        ),
        (
            r#"{{and}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <and>: wrong number of args for and: want at least 1 got 0"#,
            ),
        ),
        (
            r#"{{eq}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <eq>: wrong number of args for eq: want at least 1 got 0"#,
            ),
        ),
        (
            r#"{{eq 1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <eq 1>: error calling eq: missing argument for comparison"#,
            ),
        ),
        (
            r#"{{eq "a" 1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <eq "a" 1>: error calling eq: incompatible types for comparison"#,
            ),
        ),
        (
            r#"{{99999999999999999999}}"#,
            Want::Parse(
                r#"template parsing error: template: :1: integer overflow: "99999999999999999999""#,
            ),
        ),
        (
            r#"{{1.2.3}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected ".3" in operand"#),
        ),
        (
            r#"{{define "a"}}A{{.}}{{end}}{{template "a" 5}}"#,
            Want::Ok(r#"A5"#),
        ),
        (
            r#"{{template "zz"}}"#,
            Want::Exec(
                r#"template: :1:11: executing "" at <{{template "zz"}}>: template "zz" not defined"#,
            ),
        ),
        (r#"{{block "b" 3}}B{{.}}{{end}}"#, Want::Ok(r#"B3"#)),
        (
            r#"{{range split "a,b,c" ","}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}"#,
            Want::Ok(r#"a"#),
        ),
        (
            r#"{{range split "a,b,c" ","}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}"#,
            Want::Ok(r#"ac"#),
        ),
        (
            r#"{{range $x := split "" ","}}[{{$x}}]{{else}}E{{end}}"#,
            Want::Ok(r#"[]"#),
        ),
        (
            r#"{{printf "%-5d|%5d|%05d|%x|%X|%#X" 42 -42 42 -1 3054 3054}}"#,
            Want::Ok(r#"42   |  -42|00042|-1|BEE|0XBEE"#),
        ),
        (
            r#"{{printf "%8.3e|%-12g|%G" 1234.5678 0.000001234 1e100}}"#,
            Want::Ok(r#"1.235e+03|1.234e-06   |1E+100"#),
        ),
        (
            r#"{{printf "%s %v" (split "a b c" " ") (split "x,y" ",")}}"#,
            Want::Ok(r#"[a b c] [x y]"#),
        ),
        (
            r#"{{printf "%q" (split "a,b" ",")}}"#,
            Want::Ok(r#"["a" "b"]"#),
        ),
        (
            r#"{{printf "%d" (len (split "a,b,c" ","))}}"#,
            Want::Ok(r#"3"#),
        ),
        (r#"{{printf "%.2f%%" 99.5}}"#, Want::Ok(r#"99.50%"#)),
        (r#"{{printf "%3c|%-3c|" 65 66}}"#, Want::Ok(r#"  A|B  |"#)),
        (
            r#"{{printf "%v|%d|%s" true true true}}"#,
            Want::Ok(r#"true|%!d(bool=true)|%!s(bool=true)"#),
        ),
        (
            r#"{{printf "%010.3f|%+.2e|% .1f" 3.14159 12345.678 2.25}}"#,
            Want::Ok(r#"000003.142|+1.23e+04| 2.2"#),
        ),
        (r#"{{printf "%x" 3.5}}"#, Want::Ok(r#"0x1.cp+01"#)),
        (
            r#"{{printf "%.3s|%.10s|%5.1s|" "日本語です" "ab" "xyz"}}"#,
            Want::Ok(r#"日本語|ab|    x|"#),
        ),
        (
            r#"{{printf "%5s|%-5s|" "日本" "日本"}}"#,
            Want::Ok(r#"   日本|日本   |"#),
        ),
        (
            r#"{{print "a" "b" 1 2 "c" true false}}"#,
            Want::Ok(r#"ab1 2ctrue false"#),
        ),
        (
            r#"{{println}}"#,
            Want::Ok(
                r#"
"#,
            ),
        ),
        (r#"{{print}}"#, Want::Ok(r#""#)),
        (
            r#"{{1.0}} {{1e-7}} {{123456789.0}} {{0.1}} {{100.0}} {{-1.5e10}}"#,
            Want::Ok(r#"1 1e-07 1.23456789e+08 0.1 100 -1.5e+10"#),
        ),
        (
            r#"{{2.5}} {{1e21}} {{12345678}} {{-0}} {{0x7fffffffffffffff}}"#,
            Want::Ok(r#"2.5 1e+21 12345678 0 9223372036854775807"#),
        ),
        (r#"{{index "héllo" 1}}"#, Want::Ok(r#"195"#)),
        (
            r#"{{len (slice (split "a,b,c,d" ",") 1 3)}}"#,
            Want::Ok(r#"2"#),
        ),
        (
            r#"{{with $x := split "a,b" ","}}{{index $x 1}}{{end}}"#,
            Want::Ok(r#"b"#),
        ),
        (
            r#"{{range $i, $e := split "a,b" ","}}{{if $i}},{{end}}{{$e}}{{end}}"#,
            Want::Ok(r#"a,b"#),
        ),
        (
            r#"{{$a := 1}}{{range $i := split "x,y" ","}}{{$a = $i}}{{end}}{{$a}}"#,
            Want::Ok(r#"y"#),
        ),
        (
            r#"{{if and (eq 1 1) (ne 2 3) (lt "a" "b")}}ok{{end}}"#,
            Want::Ok(r#"ok"#),
        ),
        (r#"{{or (and 0 1) "fallback"}}"#, Want::Ok(r#"fallback"#)),
        (r#"{{not (or 0 "")}}"#, Want::Ok(r#"true"#)),
        (r#"{{eq 2 1 2 3}}"#, Want::Ok(r#"true"#)),
        (
            r#"{{ge 3 3}} {{gt "b" "a"}} {{le 1.5 1.5}}"#,
            Want::Ok(r#"true true true"#),
        ),
        (r#"{{lt -1 0x10}}"#, Want::Ok(r#"true"#)),
        (
            r#"{{upper "ß straße"}} {{lower "İSTANBUL"}} {{title "ǆemal öl"}}"#,
            Want::Ok(r#"ß STRAßE istanbul ǅemal Öl"#),
        ),
        (r#"{{pad "日本" 1 1}}|"#, Want::Ok(r#" 日本 |"#)),
        (
            r#"{{json "\u2028\u0001\b\f\t"}}"#,
            Want::Ok(r#""\u2028\u0001\b\f\t""#),
        ),
        (
            r#"{{json 'a'}} {{json 1e-7}} {{json -0.0}} {{json 1.5e300}}"#,
            Want::Ok(r#"97 1e-7 -0 1.5e+300"#),
        ),
        (
            r#"{{split "" ","}} {{len (split "" ",")}} {{split "abc" ""}} {{len (split "" "")}}"#,
            Want::Ok(r#"[] 1 [a b c] 0"#),
        ),
        (r#"{{join (split "a" ",") ","}}"#, Want::Ok(r#"a"#)),
        (r#"{{"a"}}{{- " b" -}}{{" c"}}"#, Want::Ok(r#"a b c"#)),
        (r#"{{/* only a comment */}}"#, Want::Ok(r#""#)),
        (r#"{{- /* trim both */ -}}"#, Want::Ok(r#""#)),
        (
            r#"{{if}}{{end}}"#,
            Want::Parse(r#"template parsing error: template: :1: missing value for if"#),
        ),
        (
            r#"{{range $i, 1}}{{end}}"#,
            Want::Parse(
                r#"template parsing error: template: :1: range can only initialize variables"#,
            ),
        ),
        (
            r#"{{with}}{{end}}"#,
            Want::Parse(r#"template parsing error: template: :1: missing value for with"#),
        ),
        (
            r#"{{else if}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected {{else}}"#),
        ),
        (
            r#"{{if 1}}{{else with 2}}{{end}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected <with> in input"#),
        ),
        (
            r#"{{define "x"}}{{end}}{{template "x" 1 2}}"#,
            Want::Exec(
                r#"template: :1:36: executing "" at <1>: can't give argument to non-function 1"#,
            ),
        ),
        (
            r#"{{template}}"#,
            Want::Parse(
                r#"template parsing error: template: :1: unexpected "}}" in template clause"#,
            ),
        ),
        (
            r#"{{template 1}}"#,
            Want::Parse(
                r#"template parsing error: template: :1: unexpected "1" in template clause"#,
            ),
        ),
        (
            r#"{{len}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <len>: wrong number of args for len: want 1 got 0"#,
            ),
        ),
        (
            r#"{{printf}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0"#,
            ),
        ),
        (
            r#"{{printf 1}}"#,
            Want::Exec(r#"template: :1:9: executing "" at <1>: expected string; found 1"#),
        ),
        (
            r#"{{index}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <index>: wrong number of args for index: want at least 1 got 0"#,
            ),
        ),
        (
            r#"{{.X | 1}}"#,
            Want::Parse(
                r#"template parsing error: template: :1: non executable command in pipeline stage 2"#,
            ),
        ),
        (
            r#"{{$x := }}"#,
            Want::Parse(r#"template parsing error: template: :1: missing value for command"#),
        ),
        (r#"{{$x := 1 | }}"#, Want::Ok(r#""#)),
        (
            r#"{{(1}}"#,
            Want::Parse(r#"template parsing error: template: :1: unclosed left paren"#),
        ),
        (
            r#"{{1)}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected right paren"#),
        ),
        (
            r#"{{"a" "b"}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <"a">: can't give argument to non-function "a""#,
            ),
        ),
        (
            r#"{{. 1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <.>: can't give argument to non-function ."#,
            ),
        ),
        (
            r#"{{$ 1}}"#,
            Want::Exec(
                r#"template: :1:2: executing "" at <$>: can't give argument to non-function $"#,
            ),
        ),
        (
            r#"{{'ab'}}"#,
            Want::Parse(
                r#"template parsing error: template: :1: malformed character constant: 'ab'"#,
            ),
        ),
        (
            r#"{{'\z'}}"#,
            Want::Parse(r#"template parsing error: template: :1: invalid syntax"#),
        ),
        (
            r#"{{"\z"}}"#,
            Want::Parse(r#"template parsing error: template: :1: invalid syntax"#),
        ),
        (
            r#"{{0x}}"#,
            Want::Parse(r#"template parsing error: template: :1: illegal number syntax: "0x""#),
        ),
        (
            r#"{{1e}}"#,
            Want::Parse(r#"template parsing error: template: :1: illegal number syntax: "1e""#),
        ),
        (
            r#"{{08}}"#,
            Want::Parse(r#"template parsing error: template: :1: integer overflow: "08""#),
        ),
        (
            r#"{{1__0}}"#,
            Want::Parse(r#"template parsing error: template: :1: illegal number syntax: "1__0""#),
        ),
        (
            r#"{{nil.X}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected . after term "nil""#),
        ),
        (
            r#"{{true.X}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected . after term "true""#),
        ),
        (
            r#"{{(1).X}}"#,
            Want::Exec(
                r#"template: :1:3: executing "" at <1>: can't evaluate field X in type int"#,
            ),
        ),
        (
            r#"{{(nil).X}}"#,
            Want::Exec(r#"template: :1:3: executing "" at <nil>: nil is not a command"#),
        ),
        (
            r#"{{break}}"#,
            Want::Parse(r#"template parsing error: template: :1: {{break}} outside {{range}}"#),
        ),
        (
            r#"{{range .}}{{break 1}}{{end}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected "1" in {{break}}"#),
        ),
        (
            r#"{{continue}}"#,
            Want::Parse(r#"template parsing error: template: :1: {{continue}} outside {{range}}"#),
        ),
        (
            r#"{{end}}{{if 1}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected {{end}}"#),
        ),
        (
            r#"{{if 1}}{{else}}{{else}}{{end}}"#,
            Want::Parse(r#"template parsing error: template: :1: expected end; found {{else}}"#),
        ),
        (
            r#"{{block}}"#,
            Want::Parse(r#"template parsing error: template: :1: unexpected "}}" in block clause"#),
        ),
        (
            r#"{{with 1}}{{$x := 2}}{{end}}{{$x}}"#,
            Want::Parse(r#"template parsing error: template: :1: undefined variable "$x""#),
        ),
        (r#"a{{- "x" -}}b{{"c" -}} d"#, Want::Ok(r#"axbcd"#)),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(t, w)| check("lit", t, &data, missing, w))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn raw_json_templates_match_docker_inspect() {
    let data: Value = serde_json::from_str(BRIDGE).unwrap();
    let missing = MissingKey::Error;
    let cases: &[(&str, Want)] = &[
        (
            r#"{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.Nope.Deeper}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:7: executing "" at <.Nope.Deeper>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.Name}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:12: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.IPAM}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:12: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.IPAM.Config}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:19: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.Options}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:15: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{range $k, $v := .Options}}{{$k}}={{$v}};{{end}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:51: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{index .Options "com.docker.network.bridge.name"}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:54: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{index .Options "zzz"}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:27: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.EnableIPv6}} {{.Nope}} {{.Containers}} {{.Labels}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:18: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{json .IPAM}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:16: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{json .}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:12: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.Options.zzz}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:10: executing "" at <.Options.zzz>: map has no entry for key "zzz""#,
            ),
        ),
        (
            r#"{{.Name.X}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:7: executing "" at <.Name.X>: can't evaluate field X in type interface {}"#,
            ),
        ),
        (
            r#"{{.Nope | printf "%v|%s"}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{printf "%v" .Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:14: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{if .Nope}}y{{else}}n{{end}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:5: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{len .Options}} {{len .Containers}} {{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:39: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:7: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:36: executing "" at <.Gateway>: map has no entry for key "Gateway""#,
            ),
        ),
        (
            r#"{{(index .IPAM.Config 0).Subnet}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:35: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{with .IPAM}}{{.Driver}}{{end}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:34: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.ConfigFrom}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:17: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.ConfigFrom.Network}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:25: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{eq .Nope "x"}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:5: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{eq .Name "bridge"}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:23: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{lt .Nope 1}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:5: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{len .Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:6: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{index .Nope "a"}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:8: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{index .Options 1}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:2: executing "" at <index .Options 1>: error calling index: value has type int; should be string"#,
            ),
        ),
        (
            r#"{{upper .EnableIPv6}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:8: executing "" at <.EnableIPv6>: wrong type for value; expected string; got bool"#,
            ),
        ),
        (
            r#"{{range .Nope}}x{{else}}empty{{end}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:8: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
        (
            r#"{{.Created}}{{.Nope}}"#,
            Want::Exec(
                r#"template parsing error: template: :1:14: executing "" at <.Nope>: map has no entry for key "Nope""#,
            ),
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(t, w)| check("net", t, &data, missing, w))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
