using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OrderFlow.Inventory.Data.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "inventory_inbox",
                columns: table => new
                {
                    event_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    event_type = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    order_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    topic = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    partition = table.Column<int>(type: "INTEGER", nullable: false),
                    offset = table.Column<long>(type: "INTEGER", nullable: false),
                    processed_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_inventory_inbox", x => x.event_id);
                });

            migrationBuilder.CreateTable(
                name: "inventory_outbox",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    event_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    event_type = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    event_version = table.Column<int>(type: "INTEGER", nullable: false),
                    topic = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    key = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    payload = table.Column<byte[]>(type: "BLOB", nullable: false),
                    traceparent = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_inventory_outbox", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "inventory_reservations",
                columns: table => new
                {
                    reservation_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    order_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    released_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    release_reason = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_inventory_reservations", x => x.reservation_id);
                });

            migrationBuilder.CreateTable(
                name: "inventory_stock",
                columns: table => new
                {
                    product_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    initial_quantity = table.Column<int>(type: "INTEGER", nullable: false),
                    available = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_inventory_stock", x => x.product_id);
                    table.CheckConstraint("ck_inventory_stock_available", "available >= 0");
                });

            migrationBuilder.CreateTable(
                name: "inventory_reservation_lines",
                columns: table => new
                {
                    id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    product_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    quantity = table.Column<int>(type: "INTEGER", nullable: false),
                    reservation_id = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_inventory_reservation_lines", x => x.id);
                    table.ForeignKey(
                        name: "FK_inventory_reservation_lines_inventory_reservations_reservation_id",
                        column: x => x.reservation_id,
                        principalTable: "inventory_reservations",
                        principalColumn: "reservation_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_inventory_inbox_order_id",
                table: "inventory_inbox",
                column: "order_id");

            migrationBuilder.CreateIndex(
                name: "IX_inventory_reservation_lines_reservation_id",
                table: "inventory_reservation_lines",
                column: "reservation_id");

            migrationBuilder.CreateIndex(
                name: "IX_inventory_reservations_order_id",
                table: "inventory_reservations",
                column: "order_id",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "inventory_inbox");

            migrationBuilder.DropTable(
                name: "inventory_outbox");

            migrationBuilder.DropTable(
                name: "inventory_reservation_lines");

            migrationBuilder.DropTable(
                name: "inventory_stock");

            migrationBuilder.DropTable(
                name: "inventory_reservations");
        }
    }
}
