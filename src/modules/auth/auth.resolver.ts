import { IsIn, Length } from "class-validator";
import { Arg, Ctx, Field, ID, InputType, Mutation, ObjectType, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { Role, requireRole } from "./actor";

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
}

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
    requireRole(ctx.actor, programId, [Role.ADMIN]);
    await ctx.app.programs.config(programId);
    const { row, secret } = await ctx.app.auth.createApiKey(programId, input.role, input.name);
    ctx.log.info({ programId, keyId: row.id, role: row.role }, "api key created");
    return {
      apiKey: { id: row.id, programId: row.program_id, name: row.name, role: row.role, createdAt: row.created_at },
      secret,
    };
  }

  @Mutation(() => CustomerToken, { description: "Issues a customer token for a storefront session (ADMIN, PARTNER)." })
  async issueCustomerToken(@Arg("customerId", () => ID) customerId: string, @Ctx() ctx: RequestContext): Promise<CustomerToken> {
    const customer = await ctx.app.customers.byId(ctx, uuidArg(customerId, "customerId"));
    if (!customer) throw new NotFound("Customer", "customerId");
    requireRole(ctx.actor, customer.programId, [Role.ADMIN, Role.PARTNER]);
    const { token, expiresAt } = await ctx.app.auth.issueCustomerToken(customer.programId, customer.id);
    return { token, expiresAt, customerId: customer.id };
  }
}
