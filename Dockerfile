# The SDK stage runs on the build machine's platform and publishes for the target's: the host is
# compiled ahead of time (PublishReadyToRun in OrderFlow.Host.csproj) for $TARGETARCH.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
WORKDIR /src
COPY . .
RUN dotnet publish OrderFlow.Host -c Release -a $TARGETARCH -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 5080
ENTRYPOINT ["dotnet", "OrderFlow.Host.dll"]
