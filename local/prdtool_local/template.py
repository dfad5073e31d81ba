"""template.yaml as the local runtime needs it: functions, routes, schedules, tables, buckets,
queues and the functions' SQS and HttpApi event sources, state machines.

Intrinsic functions are resolved the way CloudFormation would for one local stack: parameters
(defaults, overridable), pseudo parameters, conditions, Ref/GetAtt of resources, Sub, Join, If.
Nothing about the application is written here: a route or function added to the template works
locally as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FunctionSpec",
    "HttpRoute",
    "SqsEventSource",
    "Template",
    "load_template",
    "queue_arn",
    "queue_url",
    "read_template",
]

REGION = "us-east-1"
ACCOUNT = "123456789012"
API_ID = "local"
HTTP_API_ID = "localhttp"  # SAM's implicit HTTP API (ServerlessHttpApi), a second API on AWS too
DEFAULT_ROUTE = "$default"
_NO_VALUE = object()


class _Loader(yaml.SafeLoader):
    """Keeps CloudFormation short-form tags (!Ref, !Sub, ...) as their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected {node.tag}", node.start_mark)
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def queue_arn(name: str) -> str:
    """The ARN of the local stack's queue ``name`` (what ``!GetAtt Queue.Arn`` resolves to)."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def queue_url(name_or_arn: str) -> str:
    """The URL of a queue, given its name or ARN, as AWS spells it (what ``!Ref Queue`` resolves to).

    boto3 sends SQS requests to its endpoint (``AWS_ENDPOINT_URL`` locally) whatever host the URL
    names, and moto finds the queue by the URL's last path segment, so the AWS form works locally.
    """
    name = name_or_arn.rsplit(":", 1)[-1]
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


@dataclass(frozen=True)
class SqsEventSource:
    """A function's ``Type: SQS`` event: what Lambda's event source mapping is configured with."""

    queue_arn: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    enabled: bool = True
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def queue_url(self) -> str:
        return queue_url(self.queue_arn)


# A path parameter, a whole segment: {name}, or {name+} for the rest of the path.
PATH_PARAMETER = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")


@dataclass(frozen=True)
class HttpRoute:
    """A function's ``Type: HttpApi`` event: one route of an HTTP API (SAM's implicit one without ApiId).

    ``path`` is API Gateway's path template (``{name}`` one segment, ``{name+}`` the rest of the path)
    or ``$default``, the route of requests no other route matches.
    """

    method: str  # upper case; ANY matches every method
    path: str
    payload_format_version: str = "2.0"
    api_id: str | None = None  # an AWS::Serverless::HttpApi of the template; None: ServerlessHttpApi

    @property
    def is_default(self) -> bool:
        return self.path == DEFAULT_ROUTE

    @property
    def route_key(self) -> str:
        """API Gateway's route key: ``GET /git/{repo}/{path+}``, or ``$default``."""
        return DEFAULT_ROUTE if self.is_default else f"{self.method} {self.path}"

    @property
    def segments(self) -> list[str]:
        """The path's segments, as written (``["git", "{repo}", "{path+}"]``; ``[""]`` for ``/``)."""
        return [] if self.is_default else self.path[1:].split("/")

    @property
    def parameters(self) -> list[str]:
        """The names of the path's parameters, in order."""
        return [m.group(1) for m in map(PATH_PARAMETER.match, self.segments) if m]

    @property
    def greedy(self) -> str | None:
        """The name of the greedy parameter (``{name+}``, always last), if the path has one."""
        match = PATH_PARAMETER.match(self.segments[-1]) if self.segments else None
        return match.group(1) if match and match.group(2) else None


@dataclass
class FunctionSpec:
    """One Lambda function, with its globals merged and its properties resolved."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout_s: float
    memory_mb: int
    layer_dirs: list[Path]
    schedules_s: list[float] = field(default_factory=list)
    sqs_events: list[SqsEventSource] = field(default_factory=list)
    http_routes: list[HttpRoute] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.logical_id

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"


@dataclass
class Template:
    root: Path
    stack_name: str
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec]
    routes: dict[str, str]  # route key -> function logical id
    route_selection: str
    stage: str
    tables: dict[str, dict[str, Any]]  # table name -> resolved properties
    buckets: list[str]
    state_machines: dict[str, str] = field(default_factory=dict)  # name -> ASL, substitutions applied
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)  # queue name -> resolved properties

    def function_named(self, name_or_arn: str) -> FunctionSpec | None:
        """Look a function up by name or ARN, as Lambda's Invoke API accepts either."""
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        return self.functions.get(name)


def read_template(path: Path) -> dict[str, Any]:
    """The template as data, with short-form tags in their long form (``{"Ref": ...}``)."""
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_Loader)
    return loaded


def load_template(path: Path, overrides: dict[str, str] | None = None, stack_name: str = "prdtool-local") -> Template:
    """Read and resolve the template for one local stack, with parameter ``overrides``."""
    path = path.resolve()
    raw = read_template(path)
    resolver = _Resolver(raw, overrides or {}, stack_name)
    root = path.parent
    resources = raw.get("Resources", {})
    functions = {
        lid: _function(lid, r, raw.get("Globals", {}).get("Function", {}), resolver, root)
        for lid, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and resolver.active(r)
    }
    apis = [lid for lid, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    if len(apis) != 1:
        raise ValueError("the local runtime serves exactly one AWS::ApiGatewayV2::Api")
    api = resources[apis[0]]["Properties"]
    stages = [resolver.resolve(r["Properties"]) for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    routes = {}
    for r in resources.values():
        if r["Type"] != "AWS::ApiGatewayV2::Route" or not resolver.active(r):
            continue
        props = resolver.resolve(r["Properties"])
        integration = resources[props["Target"].removeprefix("integrations/")]
        uri = resolver.resolve(integration["Properties"]["IntegrationUri"])
        routes[props["RouteKey"]] = _function_from_integration_uri(uri)
    tables = {}
    for lid, r in resources.items():
        if r["Type"] == "AWS::DynamoDB::Table" and resolver.active(r):
            tables[resolver.ref(lid)] = resolver.resolve(r.get("Properties", {}))
    buckets = [
        resolver.ref(lid) for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and resolver.active(r)
    ]
    queues = {
        resolver.queue_name(lid): resolver.resolve(r.get("Properties", {}))
        for lid, r in resources.items()
        if r["Type"] == "AWS::SQS::Queue" and resolver.active(r)
    }
    state_machines = {
        resolver.state_machine_name(lid): _definition(r, resolver, root)
        for lid, r in resources.items()
        if r["Type"] == "AWS::Serverless::StateMachine" and resolver.active(r)
    }
    return Template(
        root=root,
        stack_name=stack_name,
        parameters=resolver.parameters,
        functions=functions,
        routes=routes,
        route_selection=resolver.resolve(api.get("RouteSelectionExpression", "$request.body.action")),
        stage=stages[0]["StageName"] if stages else "$default",
        tables=tables,
        buckets=buckets,
        state_machines=state_machines,
        queues=queues,
    )


def _definition(resource: dict[str, Any], resolver: _Resolver, root: Path) -> str:
    """A state machine's ASL with its ``DefinitionSubstitutions`` applied, as SAM deploys it."""
    props = resource["Properties"]
    if "Definition" in props:
        text = json.dumps(resolver.resolve(props["Definition"]))
    else:
        text = (root / props["DefinitionUri"]).read_text()
    for name, value in resolver.resolve(props.get("DefinitionSubstitutions", {})).items():
        text = text.replace("${" + name + "}", str(value))
    return text


def _function(
    lid: str, resource: dict[str, Any], globals_: dict[str, Any], resolver: _Resolver, root: Path
) -> FunctionSpec:
    props = {**globals_, **resource.get("Properties", {})}
    env = {
        **(globals_.get("Environment", {}).get("Variables", {})),
        **(resource.get("Properties", {}).get("Environment", {}).get("Variables", {})),
    }
    props = resolver.resolve(props)
    layers = resolver.resolve(list(globals_.get("Layers", [])) + list(resource.get("Properties", {}).get("Layers", [])))
    layer_dirs = [root / found for ref in layers if (found := resolver.layer_dir(ref))]
    schedules = [
        _rate_seconds(resolver.resolve(e["Properties"]["Schedule"]))
        for e in (props.get("Events") or {}).values()
        if e.get("Type") == "Schedule"
    ]
    sqs_events = [
        _sqs_event_source(resolver.resolve(e.get("Properties", {})))
        for e in (props.get("Events") or {}).values()
        if e.get("Type") == "SQS"
    ]
    http_routes = [
        _http_route(lid, name, resolver.resolve(e.get("Properties") or {}))
        for name, e in (props.get("Events") or {}).items()
        if e.get("Type") == "HttpApi"
    ]
    return FunctionSpec(
        logical_id=lid,
        code_dir=root / props["CodeUri"],
        handler=props.get("Handler", "app.lambda_handler"),
        environment={k: _env_string(v) for k, v in resolver.resolve(env).items() if v is not _NO_VALUE},
        timeout_s=float(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
        layer_dirs=layer_dirs,
        schedules_s=[s for s in schedules if s is not None],
        sqs_events=sqs_events,
        http_routes=http_routes,
    )


def _http_route(function: str, event: str, props: dict[str, Any]) -> HttpRoute:
    """SAM's HttpApi event properties; without Path and Method it is the API's ``$default`` route."""
    path = str(props.get("Path", DEFAULT_ROUTE))
    method = str(props.get("Method", "ANY")).upper()
    route = HttpRoute(
        method=method,
        path=path,
        payload_format_version=str(props.get("PayloadFormatVersion", "2.0")),
        api_id=str(props["ApiId"]) if props.get("ApiId") else None,
    )
    if not route.is_default:
        # What API Gateway refuses at deployment, refused here rather than never matched.
        where = f"{function} event {event}: path {path!r}"
        if not path.startswith("/"):
            raise ValueError(f"{where} must start with / (or be {DEFAULT_ROUTE})")
        for i, segment in enumerate(route.segments):
            match = PATH_PARAMETER.match(segment)
            if match is None and ("{" in segment or "}" in segment):
                raise ValueError(f"{where}: a parameter is a whole segment, {{name}} or {{name+}}")
            if match and match.group(2) and i != len(route.segments) - 1:
                raise ValueError(f"{where}: a greedy parameter ({segment}) must end the path")
    return route


def _sqs_event_source(props: dict[str, Any]) -> SqsEventSource:
    """SAM's SQS event properties, with Lambda's defaults (10 messages, no batching window)."""
    scaling = props.get("ScalingConfig") or {}
    concurrency = scaling.get("MaximumConcurrency")
    return SqsEventSource(
        queue_arn=str(props["Queue"]),
        batch_size=int(props.get("BatchSize", 10)),
        batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        enabled=_boolean(props.get("Enabled", True)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(concurrency) if concurrency is not None else None,
    )


def _boolean(value: Any) -> bool:
    # A parameter resolves to a string: "false" must not count as true.
    return value.strip().lower() != "false" if isinstance(value, str) else bool(value)


def _env_string(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate_seconds(expression: str) -> float | None:
    """Seconds between runs of a ``rate(...)`` schedule; cron schedules are not run locally."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).rstrip("s")]


def _function_from_integration_uri(uri: str) -> str:
    match = re.search(r"function:([^/:]+)", uri)
    if not match:
        raise ValueError(f"integration {uri!r} does not invoke a Lambda function")
    return match.group(1)


class _Resolver:
    """Resolves intrinsic functions against one local stack."""

    def __init__(self, raw: dict[str, Any], overrides: dict[str, str], stack_name: str) -> None:
        self.raw = raw
        self.resources: dict[str, dict[str, Any]] = raw.get("Resources", {})
        self.stack_name = stack_name
        self.parameters = {
            name: str(overrides.get(name, spec.get("Default", ""))) for name, spec in raw.get("Parameters", {}).items()
        }
        unknown = set(overrides) - set(self.parameters)
        if unknown:
            raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        self._conditions: dict[str, bool] = {}

    def active(self, resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.raw["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name == "ServerlessHttpApi" and name not in self.resources:
            return HTTP_API_ID  # SAM creates it for HttpApi events without ApiId
        resource = self.resources[name]
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return self.resolve(props.get("TableName")) or f"{self.stack_name}-{name}"
        if kind == "AWS::S3::Bucket":
            return self.resolve(props.get("BucketName")) or f"{self.stack_name}-{name}".lower()
        if kind == "AWS::SQS::Queue":
            return queue_url(self.queue_name(name))
        if kind == "AWS::ApiGatewayV2::Api":
            return API_ID
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.state_machine_name(name)}"
        if kind == "AWS::Serverless::LayerVersion":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:1"
        return name  # functions (their name), integrations, stages, ...

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.resources[name]["Type"]
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.ref(name)}"
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{self.ref(name)}"
        if kind == "AWS::SQS::Queue" and attribute in ("Arn", "QueueName", "QueueUrl"):
            queue = self.queue_name(name)
            return {"Arn": queue_arn(queue), "QueueName": queue, "QueueUrl": queue_url(queue)}[attribute]
        return f"{name}.{attribute}"

    def state_machine_name(self, logical_id: str) -> str:
        return self.resolve(self.resources[logical_id].get("Properties", {}).get("Name")) or (
            f"{self.stack_name}-{logical_id}"
        )

    def queue_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties", {})
        explicit = self.resolve(props.get("QueueName"))
        if explicit:
            return str(explicit)
        # CloudFormation names a FIFO queue it names itself with the suffix SQS requires.
        fifo = _boolean(self.resolve(props.get("FifoQueue", False)))
        return f"{self.stack_name}-{logical_id}" + (".fifo" if fifo else "")

    def layer_dir(self, ref: str) -> str | None:
        for lid, r in self.resources.items():
            if r["Type"] == "AWS::Serverless::LayerVersion" and self.ref(lid) == ref:
                return str(r["Properties"]["ContentUri"])
        return None

    def resolve(self, value: Any) -> Any:  # noqa: C901 - one branch per intrinsic function
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)
