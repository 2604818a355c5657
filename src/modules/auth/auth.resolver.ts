import { IsIn, Length } from "class-validator";
import { Arg, Ctx, Field, ID, InputType, Mutation, ObjectType, Query, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { Role } from "./actor";

@InputType()
export class CreateApiKeyInput {
  @Field(() => ID)
  programId: string;

  @Field(() => Role)
  @IsIn(Object.values(Role))
  role: Role;

  @Field({ description: "Who uses it, e.g. 'POS Paris'." })
  @Length(1, 100)
  name: string;
}

@ObjectType({ description: "An API key: one role in one program. The secret is never shown again." })
export class ApiKey {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  programId: string;

  @Field()
  name: string;

  @Field(() => Role)
  role: Role;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: "When it was revoked (it no longer works); null while it works." })
  revokedAt: Date | null;
}

const apiKeyFromRow = (row: any): ApiKey => ({
  id: row.id,
  programId: row.program_id,
  name: row.name,
  role: row.role,
  createdAt: row.created_at,
  revokedAt: row.revoked_at ?? null,
});

@ObjectType()
export class ApiKeyCreated {
  @Field(() => ApiKey)
  apiKey: ApiKey;

  @Field({ description: "The key to send as `Authorization: Bearer <secret>`. Shown once: store it now." })
  secret: string;
}

@ObjectType({ description: "A short-lived token a storefront uses to act for one customer." })
export class CustomerToken {
  @Field()
  token: string;

  @Field()
  expiresAt: Date;

  @Field(() => ID)
  customerId: string;
}

@Resolver()
export class AuthResolver {
  @Mutation(() => ApiKeyCreated, { description: "Creates an API key for a program (ADMIN)." })
  async createApiKey(@Arg("input") input: CreateApiKeyInput, @Ctx() ctx: RequestContext): Promise<ApiKeyCreated> {
    const programId = uuidArg(input.programId, "programId");
    await ctx.app.programs.config(programId);
    const { row, secret } = await ctx.app.auth.createApiKey(programId, input.role, input.name);
    ctx.log.info({ programId, keyId: row.id, role: row.role }, "api key created");
    return { apiKey: apiKeyFromRow(row), secret };
  }

  @Query(() => [ApiKey], { description: "The program's API keys, newest first, revoked ones included (ADMIN). Never their secrets." })
  async apiKeys(@Arg("programId", () => ID) programId: string, @Ctx() ctx: RequestContext): Promise<ApiKey[]> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.config(id);
    return (await ctx.app.auth.listApiKeys(id)).map(apiKeyFromRow);
  }

  @Mutation(() => ApiKey, {
    description:
      "Revokes an API key (ADMIN): it stops working at once, in every API process, and WebSockets opened with it close (4403). Revoking it again changes nothing. LOYALTY_ADMIN_KEY is configuration, not an API key.",
  })
  async revokeApiKey(@Arg("programId", () => ID) programId: string, @Arg("id", () => ID) keyId: string, @Ctx() ctx: RequestContext): Promise<ApiKey> {
    const program = uuidArg(programId, "programId");
    const id = uuidArg(keyId, "id");
    const row = await ctx.app.auth.revokeApiKey(program, id);
    if (!row) throw new NotFound("ApiKey", "id");
    ctx.app.apiKeyRevoked(program, id);
    ctx.log.info({ programId: program, keyId: id }, "api key revoked");
    return apiKeyFromRow(row);
  }

  @Mutation(() => CustomerToken, { description: "Issues a customer token for a storefront session (ADMIN, PARTNER)." })
  async issueCustomerToken(@Arg("customerId", () => ID) customerId: string, @Ctx() ctx: RequestContext): Promise<CustomerToken> {
    const customer = await ctx.app.customers.byId(ctx, uuidArg(customerId, "customerId"));
    if (!customer) throw new NotFound("Customer", "customerId");
    // An erased customer has no sessions any more.
    if (customer.erasedAt) throw new NotFound("Customer", "customerId");
    const { token, expiresAt } = await ctx.app.auth.issueCustomerToken(customer.programId, customer.id);
    return { token, expiresAt, customerId: customer.id };
  }
}
