// Checks JSON values against the TypeScript interfaces of the npm `plaid` package (dist/api.d.ts),
// through the TypeScript compiler API: every non-optional property present, every value of its
// declared type (string, number, boolean, null, arrays, nested interfaces), every enum value one
// the enum declares. Properties the interface does not declare are reported, not refused (a
// newer field a client does not know is no deviation).
"use strict";
const ts = require("typescript");

function createChecker(apiDts) {
  const program = ts.createProgram([apiDts], {
    strict: true, noEmit: true, skipLibCheck: true, moduleResolution: ts.ModuleResolutionKind.Node10,
    // No DOM library and no @types packages: faster, and api.d.ts needs neither.
    lib: ["lib.es2020.d.ts"], types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(apiDts);
  if (!source) throw new Error(`cannot read ${apiDts}`);
  const declarations = new Map();
  ts.forEachChild(source, (node) => {
    if ((ts.isInterfaceDeclaration(node) || ts.isEnumDeclaration(node) || ts.isClassDeclaration(node)) && node.name) {
      declarations.set(node.name.text, node);
    }
  });

  function declaredType(name) {
    const node = declarations.get(name);
    if (!node) throw new Error(`plaid's api.d.ts declares no ${name}`);
    return checker.getDeclaredTypeOfSymbol(checker.getSymbolAtLocation(node.name));
  }

  // The type of `response.data` of PlaidApi's method `method`.
  function responseType(method) {
    const api = declarations.get("PlaidApi");
    const member = api.members.find((m) => m.name && m.name.text === method);
    if (!member) throw new Error(`PlaidApi has no method ${method}`);
    const signature = checker.getSignatureFromDeclaration(member);
    const awaited = checker.getAwaitedType(signature.getReturnType());
    const data = awaited.getProperty("data");
    return checker.getTypeOfSymbolAtLocation(data, member);
  }

  function describe(type) {
    return checker.typeToString(type);
  }

  // Appends to `problems` every way `value` falls short of `type`; `extras` collects undeclared keys.
  function check(value, type, path, problems, extras) {
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (type.isUnion()) {
      const attempts = type.types.map((member) => {
        const found = [];
        check(value, member, path, found, []);
        return found;
      });
      if (attempts.some((found) => found.length === 0)) {
        // Collect undeclared keys against the member that matched.
        const index = attempts.findIndex((found) => found.length === 0);
        check(value, type.types[index], path, [], extras);
        return;
      }
      const objectMember = type.types.findIndex((m) => m.flags & ts.TypeFlags.Object);
      if (objectMember >= 0 && value !== null && typeof value === "object") {
        problems.push(...attempts[objectMember]);
      } else {
        problems.push(`${path}: ${JSON.stringify(value)} is not ${describe(type)}`);
      }
      return;
    }
    if (flags & ts.TypeFlags.Null) return void (value === null || problems.push(`${path}: expected null, got ${JSON.stringify(value)}`));
    if (flags & ts.TypeFlags.Undefined) return void (value === undefined || problems.push(`${path}: expected no value`));
    if (flags & ts.TypeFlags.StringLiteral || flags & ts.TypeFlags.NumberLiteral) {
      // The generator writes a nullable enum (OpenAPI `enum: [..., null]`) as a member `Null = "null"`;
      // on the wire that member is JSON null (Plaid's own examples send `"guarantee_decision": null`).
      if (value === null && type.value === "null" && flags & ts.TypeFlags.EnumLiteral) return;
      return void (value === type.value || problems.push(`${path}: ${JSON.stringify(value)} is not ${describe(type)}`));
    }
    if (flags & ts.TypeFlags.BooleanLiteral) {
      return void (value === (describe(type) === "true") || problems.push(`${path}: expected ${describe(type)}`));
    }
    if (flags & ts.TypeFlags.String) return void (typeof value === "string" || problems.push(`${path}: expected a string, got ${JSON.stringify(value)}`));
    if (flags & ts.TypeFlags.Number) return void (typeof value === "number" || problems.push(`${path}: expected a number, got ${JSON.stringify(value)}`));
    if (flags & ts.TypeFlags.Boolean) return void (typeof value === "boolean" || problems.push(`${path}: expected a boolean`));
    if (checker.isArrayType(type)) {
      if (!Array.isArray(value)) return void problems.push(`${path}: expected an array, got ${JSON.stringify(value)}`);
      const element = checker.getTypeArguments(type)[0];
      value.forEach((item, i) => check(item, element, `${path}[${i}]`, problems, extras));
      return;
    }
    if (flags & ts.TypeFlags.Object) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return void problems.push(`${path}: expected ${describe(type)}, got ${JSON.stringify(value)}`);
      }
      const declared = new Set();
      for (const property of checker.getPropertiesOfType(type)) {
        declared.add(property.name);
        const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
        const where = `${path}.${property.name}`;
        if (!(property.name in value)) {
          if (!optional) problems.push(`${where}: required by ${describe(type)} but missing`);
          continue;
        }
        const declaration = property.valueDeclaration || (property.declarations || [])[0];
        check(value[property.name], checker.getTypeOfSymbolAtLocation(property, declaration), where, problems, extras);
      }
      const indexed = checker.getIndexInfosOfType(type).length > 0;
      if (!indexed) {
        for (const key of Object.keys(value)) if (!declared.has(key)) extras.push(`${path}.${key}`);
      }
      return;
    }
    problems.push(`${path}: cannot check type ${describe(type)}`);
  }

  function run(type, value, label) {
    const problems = [];
    const extras = [];
    check(value, type, label, problems, extras);
    return { problems, extras };
  }

  return {
    // Checks the data of a PlaidApi method's successful answer.
    response: (method, data) => run(responseType(method), data, method),
    // Checks a value against a named interface (e.g. PlaidError).
    named: (name, data, label) => run(declaredType(name), data, label || name),
  };
}

module.exports = { createChecker };
